package attention

import (
	"slices"
	"sync/atomic"

	"github.com/tessella-ml/tessella/attention/tile"
	"github.com/tessella-ml/tessella/internal/par"
)

// row returns the HeadDim values of operand o at (batch b, row i, head h).
func row(o *Operand, b, i, h, d int) []float32 {
	off := b*o.BatchStride + i*o.RowStride + h*o.HeadStride
	return o.Data[off : off+d : off+d]
}

// hasBias reports whether any score can carry a nonzero bias.
func (a *Args) hasBias() bool {
	m := &a.Mask
	return m.KeyValid != nil || m.Causal || m.Bias != nil
}

// biasRow writes bias(b, h, i, j) for j = j0 … j0+len(dst)−1 into dst. The
// terms are summed in float32 in the same order as Args.bias (padding, then
// causal, then the user bias), so every kernel sees the same bias value.
func (a *Args) biasRow(dst []float32, b, h, i, j0 int) {
	clear(dst)
	m := &a.Mask
	if m.KeyValid != nil {
		for j, ok := range m.KeyValid[b*a.KVLen+j0 : b*a.KVLen+j0+len(dst)] {
			if !ok {
				dst[j] += MaskBias
			}
		}
	}
	if m.Causal {
		for j := max(i+m.CausalOffset+1-j0, 0); j < len(dst); j++ {
			dst[j] += MaskBias
		}
	}
	if m.Bias != nil {
		off := b*m.BiasBatchStride + h*m.BiasHeadStride + i*a.KVLen + j0
		for j, v := range m.Bias[off : off+len(dst)] {
			dst[j] += v
		}
	}
}

// scoreRow turns raw dot products into scores in place,
// s[j] = s[j]·scale + bias(b, h, i, j0+j) (bias is scratch), and returns
// max_j s[j].
func (a *Args) scoreRow(s, bias []float32, scale float32, b, h, i, j0 int) float32 {
	m := tile.ScaleMax(s, scale)
	if !a.hasBias() {
		return m
	}
	bias = bias[:len(s)]
	a.biasRow(bias, b, h, i, j0)
	for j, v := range bias {
		s[j] += v
	}
	return tile.Max(s)
}

// causalLimit returns how many keys row i of batch b must visit. Keys
// j > i+offset only get MaskBias on top of their score, so when some visible
// key beats them by about 1e12 their weight exp(−1e12) is exactly 0 and
// they can be skipped. That holds when the only biases are causal and
// padding, the row has at least one causally visible key (i+offset ≥ 0) and
// at least one of its visible keys is not padded (otherwise the padded
// visible keys score −1e12 exactly like the unpadded future keys, they tie,
// and all of them share the weight); otherwise the row visits all keys.
func (a *Args) causalLimit(b, i int) int {
	m := &a.Mask
	if !m.Causal || m.Bias != nil || i+m.CausalOffset < 0 {
		return a.KVLen
	}
	lim := min(a.KVLen, i+m.CausalOffset+1)
	if m.KeyValid != nil && !slices.Contains(m.KeyValid[b*a.KVLen:b*a.KVLen+lim], true) {
		return a.KVLen
	}
	return lim
}

// parallel runs f(worker, item) for item = 0 … n−1 on up to threads
// goroutines (worker < threads), handing items out in order. With one
// thread it runs inline and allocates nothing.
func parallel(n, threads int, f func(worker, item int)) {
	threads = max(1, min(threads, n))
	if threads == 1 {
		for i := range n {
			f(0, i)
		}
		return
	}
	var next atomic.Int64
	par.Run(threads, func(w int) {
		for {
			i := int(next.Add(1)) - 1
			if i >= n {
				return
			}
			f(w, i)
		}
	})
}

// ScratchSizer is implemented by kernels that can say how many bytes of
// scratch memory (beyond Q, K, V and Out) a call with these Args uses.
type ScratchSizer interface {
	ScratchBytes(a *Args) int
}
