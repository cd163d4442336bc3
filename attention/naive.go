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
// stride of at least HeadDim, so Args with a smaller one (0 broadcasts a row,
// or overlapping rows, both of which Validate allows) are computed by Plain.
type Naive struct{}

func (Naive) Name() string { return "naive" }

// ScratchBytes is one QLen×KVLen float32 buffer (plus a bias row) per thread.
func (Naive) ScratchBytes(a *Args) int {
	return min(a.ThreadCount(), a.Batch*a.Heads) * 4 * (a.QLen*a.KVLen + a.KVLen)
}

func (Naive) Forward(a *Args) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if a.Q.RowStride < a.HeadDim || a.K.RowStride < a.HeadDim || a.V.RowStride < a.HeadDim || a.Out.RowStride < a.HeadDim {
		return Plain{}.Forward(a)
	}
	scale := a.ScaleOrDefault()
	nq, nk, d := a.QLen, a.KVLen, a.HeadDim
	threads := min(a.ThreadCount(), a.Batch*a.Heads)
	eng, err := matmul.NewEngine(matmul.Best(), 1)
	if err != nil {
		return fmt.Errorf("attention: naive: %w", err)
	}
	bufs := make([][]float32, threads)
	parallel(a.Batch*a.Heads, threads, func(w, p int) {
		if bufs[w] == nil {
			bufs[w] = make([]float32, nq*nk+nk)
		}
		s, bias := bufs[w][:nq*nk], bufs[w][nq*nk:] // S (nq, nk); bias row (nk)
		b, h := p/a.Heads, p%a.Heads
		qOff := b*a.Q.BatchStride + h*a.Q.HeadStride
		kOff := b*a.K.BatchStride + h*a.K.HeadStride
		vOff := b*a.V.BatchStride + h*a.V.HeadStride
		oOff := b*a.Out.BatchStride + h*a.Out.HeadStride
		// S = Q·Kᵀ: Q view (nq, d) row stride Q.RowStride, K view (nk, d).
		eng.Gemm(false, true, nq, nk, d, 1, a.Q.Data[qOff:], a.Q.RowStride, a.K.Data[kOff:], a.K.RowStride, 0, s, nk)
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
		eng.Gemm(false, false, nq, d, nk, 1, s, nk, a.V.Data[vOff:], a.V.RowStride, 0, a.Out.Data[oOff:], a.Out.RowStride)
	})
	return nil
}
