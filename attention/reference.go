package attention

import "math"

// Reference is the float64 oracle. Per (batch, head) it materialises the
// score matrix S (QLen×KVLen float64), then does a three-pass softmax
// (max, sum of exp, normalise) and P·V, all in float64.
//
// Score semantics (shared by every kernel): the dot product and the scale
// are float64, the bias is Args.bias's float32 value, and the biased score is
// rounded to float32 once — the precision the model's scores live in. That
// rounding is what lets MaskBias (−1e12, whose float32 ulp is 65536) absorb
// the score of a masked key: for |score| < 32768 a masked score is exactly
// float32(−1e12) (or −2e12 if both padding and causal apply). A row whose keys
// are all masked therefore has equal maximal scores and gets a uniform
// softmax over the keys that carry the smallest mask bias — not the softmax
// of the unmasked scores. All kernels reproduce this.
type Reference struct{}

func (Reference) Name() string { return "reference" }

// ScratchBytes is the float64 S matrix of one (batch, head) pair.
func (Reference) ScratchBytes(a *Args) int { return 8 * a.QLen * a.KVLen }

func (Reference) Forward(a *Args) error {
	if err := a.Validate(); err != nil {
		return err
	}
	scale := float64(a.ScaleOrDefault())
	d := a.HeadDim
	s := make([]float64, a.QLen*a.KVLen) // S (QLen, KVLen)
	o := make([]float64, d)              // one output row
	for b := range a.Batch {
		for h := range a.Heads {
			for i := range a.QLen {
				q := row(&a.Q, b, i, h, d)
				for j := range a.KVLen {
					k := row(&a.K, b, j, h, d)
					var dot float64
					for c, qc := range q {
						dot += float64(qc) * float64(k[c])
					}
					s[i*a.KVLen+j] = float64(float32(dot*scale + float64(a.bias(b, h, i, j))))
				}
			}
			for i := range a.QLen {
				si := s[i*a.KVLen : (i+1)*a.KVLen]
				m := math.Inf(-1)
				for _, v := range si {
					m = max(m, v)
				}
				var sum float64
				for j, v := range si {
					si[j] = math.Exp(v - m)
					sum += si[j]
				}
				clear(o)
				for j, p := range si {
					v := row(&a.V, b, j, h, d)
					w := p / sum
					for c := range o {
						o[c] += w * float64(v[c])
					}
				}
				out := row(&a.Out, b, i, h, d)
				for c := range out {
					out[c] = float32(o[c])
				}
			}
		}
	}
	return nil
}
