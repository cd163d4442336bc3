package attention

import (
	"math"

	"github.com/tessella-ml/tessella/attention/tile"
)

// Online is the fused single-pass kernel: per query row it streams over the
// keys keeping a running max m, a running sum l and an unnormalised output
// accumulator o (HeadDim floats):
//
//	s = q·k_j·scale + bias;  m' = max(m, s)
//	o = o·exp(m−m') + exp(s−m')·v_j;  l = l·exp(m−m') + exp(s−m');  m = m'
//	Out = o / l
//
// No N×N buffer; extra memory is HeadDim floats per thread. Goroutines split
// (batch, head, block of 16 query rows).
type Online struct{}

func (Online) Name() string { return "online" }

const onlineRows = 16

// ScratchBytes is the accumulator and a bias slot per thread.
func (Online) ScratchBytes(a *Args) int { return a.ThreadCount() * 4 * (a.HeadDim + 1) }

func (Online) Forward(a *Args) error {
	if err := a.Validate(); err != nil {
		return err
	}
	scale := a.ScaleOrDefault()
	d := a.HeadDim
	blocks := (a.QLen + onlineRows - 1) / onlineRows
	n := a.Batch * a.Heads * blocks
	threads := min(a.ThreadCount(), n)
	accs := make([][]float32, threads)
	biased := a.hasBias()
	parallel(n, threads, func(w, item int) {
		if accs[w] == nil {
			accs[w] = make([]float32, d+1)
		}
		o, bias := accs[w][:d], accs[w][d:]
		bh, blk := item/blocks, item%blocks
		b, h := bh/a.Heads, bh%a.Heads
		for i := blk * onlineRows; i < min(a.QLen, (blk+1)*onlineRows); i++ {
			q := row(&a.Q, b, i, h, d)
			m := float32(math.Inf(-1))
			var l float32
			clear(o)
			for j := range a.causalLimit(b, i) {
				s := tile.Dot(q, row(&a.K, b, j, h, d)) * scale
				if biased {
					a.biasRow(bias, b, h, i, j)
					s += bias[0]
				}
				if s > m {
					c := tile.Exp(m - s)
					l *= c
					for x := range o {
						o[x] *= c
					}
					m = s
				}
				p := tile.Exp(s - m)
				l += p
				tile.Axpy(p, row(&a.V, b, j, h, d), o)
			}
			out := row(&a.Out, b, i, h, d)
			inv := 1 / l
			for x, v := range o {
				out[x] = v * inv
			}
		}
	})
	return nil
}
