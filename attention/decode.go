package attention

import (
	"math"
	"sync"

	"github.com/tessella-ml/tessella/attention/tile"
	"github.com/tessella-ml/tessella/internal/par"
)

// Decode is the kernel for a few query rows (the decoder's one new token)
// against a KV cache of t keys. It is memory-bound: per (batch, head, row)
// it reads each key once for the scores s (t floats), takes the softmax in
// place, and reads each value once for Out = P·V / l (tile.PV streams V rows
// 64 channels at a time; both passes prefetch 8 rows ahead). The score buffers are kept in the Decode value
// and reused, so a call with Threads = 1 allocates nothing; with more threads
// only the goroutines themselves allocate. Use one *Decode per goroutine
// that calls Forward, or share it (buffers are handed out under a mutex).
type Decode struct {
	mu   sync.Mutex
	free [][]float32
}

func (*Decode) Name() string { return "decode" }

// ScratchBytes is 2·t+HeadDim floats per thread: a row of scores, a row of
// bias and the output accumulator (t = KVLen).
func (*Decode) ScratchBytes(a *Args) int {
	return min(a.ThreadCount(), a.Batch*a.Heads*a.QLen) * 4 * (2*a.KVLen + a.HeadDim)
}

func (dk *Decode) get(n int) []float32 {
	dk.mu.Lock()
	defer dk.mu.Unlock()
	for i := len(dk.free) - 1; i >= 0; i-- {
		if b := dk.free[i]; cap(b) >= n {
			dk.free[i] = dk.free[len(dk.free)-1]
			dk.free = dk.free[:len(dk.free)-1]
			return b[:n]
		}
	}
	return make([]float32, n)
}

func (dk *Decode) put(b []float32) {
	dk.mu.Lock()
	if len(dk.free) < 64 {
		dk.free = append(dk.free, b)
	}
	dk.mu.Unlock()
}

func (dk *Decode) Forward(a *Args) error {
	if err := a.Validate(); err != nil {
		return err
	}
	n := a.Batch * a.Heads * a.QLen
	threads := min(a.ThreadCount(), n)
	size := 2*a.KVLen + a.HeadDim
	if threads == 1 {
		buf := dk.get(size)
		for item := range n {
			decodeRow(a, buf, item)
		}
		dk.put(buf)
		return nil
	}
	per := (n + threads - 1) / threads
	par.Run((n+per-1)/per, func(w int) {
		lo, hi := w*per, min(n, (w+1)*per)
		buf := dk.get(size)
		for item := lo; item < hi; item++ {
			decodeRow(a, buf, item)
		}
		dk.put(buf)
	})
	return nil
}

// decodeRow computes one output row; item enumerates (b, h, i) with i fastest.
func decodeRow(a *Args, buf []float32, item int) {
	d, t := a.HeadDim, a.KVLen
	i := item % a.QLen
	bh := item / a.QLen
	b, h := bh/a.Heads, bh%a.Heads
	s, bias, o := buf[:t], buf[t:2*t], buf[2*t:2*t+d] // scores (t), bias (t), O (D)
	q := row(&a.Q, b, i, h, d)
	kEnd := a.causalLimit(b, i)
	s = s[:kEnd]
	tile.Dots(q, a.K.Data[b*a.K.BatchStride+h*a.K.HeadStride:], a.K.RowStride, s)
	m := a.scoreRow(s, bias, a.ScaleOrDefault(), b, h, i, 0)
	if math.IsInf(float64(m), -1) {
		m = 0
	}
	l := tile.ExpSub(s, m)
	tile.PV(s, a.V.Data[b*a.V.BatchStride+h*a.V.HeadStride:], a.V.RowStride, o)
	out := row(&a.Out, b, i, h, d)
	inv := 1 / l
	for c, v := range o {
		out[c] = v * inv
	}
}
