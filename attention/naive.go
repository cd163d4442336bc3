package attention

import (
	"fmt"

	"github.com/tessella-ml/tessella/attention/tile"
	"github.com/tessella-ml/tessella/internal/matmul"
)

// Naive is the textbook float32 kernel: per (batch, head) it materialises
// S = scale·Q·Kᵀ (QLen×KVLen) with matmul.Gemm on strided views of Q and K,
// adds the bias and takes the row softmax in Go, then Out = P·V with a second
// Gemm written straight into the strided Out. Goroutines split the
// (batch, head) pairs; each Gemm runs single-threaded on a matmul.Engine of
// the best tier (matmul.Best), so Threads bounds the total. Gemm needs a row
// stride of at least HeadDim, so an operand whose RowStride is smaller (0 to
// broadcast one row, or overlapping rows, both of which Validate allows) is
// copied row by row into a packed per-thread buffer first (for Out: computed
// there and copied out row by row).
type Naive struct{}

func (Naive) Name() string { return "naive" }

// ScratchBytes is one QLen×KVLen float32 buffer (plus a bias row) per
// thread, and a packed copy of each operand whose RowStride is below
// HeadDim.
func (Naive) ScratchBytes(a *Args) int {
	return min(a.ThreadCount(), a.Batch*a.Heads) * 4 * naiveScratch(a)
}

// naiveScratch is the number of floats of one thread's buffer: S, a bias
// row, then a packed (rows × HeadDim) copy of every operand that needs one,
// in the order Q, K, V, Out.
func naiveScratch(a *Args) int {
	n := a.QLen*a.KVLen + a.KVLen
	for _, p := range naivePacked(a) {
		n += p.rows * a.HeadDim
	}
	return n
}

// naivePack is an operand Naive must pack: its row stride is below HeadDim.
type naivePack struct {
	o    *Operand
	rows int
}

// naivePacked lists the operands whose RowStride is below HeadDim.
func naivePacked(a *Args) []naivePack {
	var ps []naivePack
	for _, p := range []naivePack{{&a.Q, a.QLen}, {&a.K, a.KVLen}, {&a.V, a.KVLen}, {&a.Out, a.QLen}} {
		if p.o.RowStride < a.HeadDim {
			ps = append(ps, p)
		}
	}
	return ps
}

func (Naive) Forward(a *Args) error {
	if err := a.Validate(); err != nil {
		return err
	}
	scale := a.ScaleOrDefault()
	nq, nk, d := a.QLen, a.KVLen, a.HeadDim
	threads := min(a.ThreadCount(), a.Batch*a.Heads)
	eng, err := matmul.NewEngine(matmul.Best(), 1)
	if err != nil {
		return fmt.Errorf("attention: naive: %w", err)
	}
	packed := naivePacked(a)
	size := naiveScratch(a)
	bufs := make([][]float32, threads)
	parallel(a.Batch*a.Heads, threads, func(w, p int) {
		if bufs[w] == nil {
			bufs[w] = make([]float32, size)
		}
		s, bias := bufs[w][:nq*nk], bufs[w][nq*nk:nq*nk+nk] // S (nq, nk); bias row (nk)
		b, h := p/a.Heads, p%a.Heads
		// The (rows, d) view of each operand for this (batch, head): its
		// slice and row stride, or a packed copy with row stride d.
		type view struct {
			data []float32
			ld   int
		}
		at := func(o *Operand) view {
			return view{o.Data[b*o.BatchStride+h*o.HeadStride:], o.RowStride}
		}
		q, k, v, out := at(&a.Q), at(&a.K), at(&a.V), at(&a.Out)
		free := bufs[w][nq*nk+nk:]
		var outBuf []float32
		for _, pk := range packed {
			buf := free[:pk.rows*d]
			free = free[pk.rows*d:]
			src := at(pk.o)
			switch pk.o {
			case &a.Out:
				outBuf = buf
				out = view{buf, d}
				continue
			case &a.Q:
				q = view{buf, d}
			case &a.K:
				k = view{buf, d}
			case &a.V:
				v = view{buf, d}
			}
			for i := range pk.rows {
				copy(buf[i*d:(i+1)*d], src.data[i*src.ld:i*src.ld+d])
			}
		}
		// S = Q·Kᵀ: Q view (nq, d), K view (nk, d).
		eng.Gemm(false, true, nq, nk, d, 1, q.data, q.ld, k.data, k.ld, 0, s, nk)
		for i := range nq {
			si := s[i*nk : (i+1)*nk]
			m := a.scoreRow(si, bias, scale, b, h, i, 0)
			sum := tile.ExpSub(si, m)
			inv := 1 / sum
			for j := range si {
				si[j] *= inv
			}
		}
		// Out = P·V: P (nq, nk), V view (nk, d), Out view (nq, d).
		eng.Gemm(false, false, nq, d, nk, 1, s, nk, v.data, v.ld, 0, out.data, out.ld)
		if outBuf != nil {
			dst := at(&a.Out)
			for i := range nq {
				copy(dst.data[i*dst.ld:i*dst.ld+d], outBuf[i*d:(i+1)*d])
			}
		}
	})
	return nil
}
