package attention

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// MaskBias is the additive score bias min-dalle gives a masked key:
// (1 − mask)·(−1e12), computed in float32. After the max-subtracted softmax
// it underflows to exactly 0 whenever the row has at least one unmasked key.
const MaskBias = float32(-1e12)

// Operand locates one of Q, K, V or Out in memory: element (b, i, h, c) —
// batch b, row (token) i, head h, channel c < HeadDim — is
//
//	Data[b*BatchStride + i*RowStride + h*HeadStride + c].
//
// The model's (B, N, E) activations with heads side by side in the last
// dimension are RowStride = E, HeadStride = HeadDim, BatchStride = N·E, so no
// kernel needs a transposed copy.
type Operand struct {
	Data                               []float32
	BatchStride, RowStride, HeadStride int
}

// Mask says which scores are biased. All fields are optional and combine.
type Mask struct {
	// KeyValid, if non-nil, holds Batch·KVLen flags: key j of batch b is
	// attended iff KeyValid[b*KVLen+j]. An invalid key's score gets MaskBias
	// added (min-dalle's padding mask), it is not set to −∞.
	KeyValid []bool
	// Causal: query row i sees key j iff j <= i + CausalOffset; other keys
	// get MaskBias added, as KeyValid does.
	Causal       bool
	CausalOffset int
	// Bias, if non-nil, is added to the scores: score (b, h, i, j) gets
	// Bias[b*BiasBatchStride + h*BiasHeadStride + i*KVLen + j]. A stride of 0
	// broadcasts over that dimension.
	Bias                            []float32
	BiasBatchStride, BiasHeadStride int
}

// Args is one attention call:
//
//	S[b,h,i,j] = Scale · Σ_c Q[b,i,h,c]·K[b,j,h,c] + bias(b,h,i,j)
//	P[b,h,i,:] = softmax(S[b,h,i,:])
//	Out[b,i,h,c] = Σ_j P[b,h,i,j]·V[b,j,h,c]
type Args struct {
	Batch, Heads, QLen, KVLen, HeadDim int
	Q, K, V, Out                       Operand
	// Scale multiplies Q·Kᵀ; 0 means 1/√HeadDim.
	Scale float32
	Mask  Mask
	// Threads bounds the goroutines a kernel uses; 0 means GOMAXPROCS.
	Threads int
	// Workspace, if at least ScratchBytes(a)/4 floats long (see
	// ScratchSizer), is used by the Flash kernel instead of allocating its
	// scratch. It must not overlap Q, K, V or Out, nor be shared by calls
	// that run at the same time. Optional.
	Workspace []float32
}

// Kernel computes Args. Every kernel must equal the float64 reference within
// the tolerance stated in its tests.
type Kernel interface {
	Name() string
	Forward(a *Args) error
}

// ScaleOrDefault returns a.Scale, or 1/√HeadDim when it is 0.
func (a *Args) ScaleOrDefault() float32 {
	if a.Scale != 0 {
		return a.Scale
	}
	return float32(1 / math.Sqrt(float64(a.HeadDim)))
}

// ThreadCount returns the number of goroutines a kernel may use.
func (a *Args) ThreadCount() int {
	if a.Threads > 0 {
		return a.Threads
	}
	return runtime.GOMAXPROCS(0)
}

// Validate checks that every index a kernel will touch is inside its slice.
func (a *Args) Validate() error {
	if a.Batch <= 0 || a.Heads <= 0 || a.QLen <= 0 || a.KVLen <= 0 || a.HeadDim <= 0 {
		return fmt.Errorf("attention: non-positive shape batch=%d heads=%d q_len=%d kv_len=%d head_dim=%d",
			a.Batch, a.Heads, a.QLen, a.KVLen, a.HeadDim)
	}
	check := func(name string, o Operand, rows int) error {
		if o.BatchStride < 0 || o.RowStride < 0 || o.HeadStride < 0 {
			return fmt.Errorf("attention: %s has a negative stride", name)
		}
		last := (a.Batch-1)*o.BatchStride + (rows-1)*o.RowStride + (a.Heads-1)*o.HeadStride + a.HeadDim
		if last > len(o.Data) {
			return fmt.Errorf("attention: %s needs %d elements, has %d", name, last, len(o.Data))
		}
		return nil
	}
	if err := errors.Join(check("Q", a.Q, a.QLen), check("K", a.K, a.KVLen),
		check("V", a.V, a.KVLen), check("Out", a.Out, a.QLen)); err != nil {
		return err
	}
	if a.Mask.KeyValid != nil && len(a.Mask.KeyValid) < a.Batch*a.KVLen {
		return fmt.Errorf("attention: KeyValid has %d flags, needs %d", len(a.Mask.KeyValid), a.Batch*a.KVLen)
	}
	if b := a.Mask.Bias; b != nil {
		last := (a.Batch-1)*a.Mask.BiasBatchStride + (a.Heads-1)*a.Mask.BiasHeadStride + a.QLen*a.KVLen
		if last > len(b) {
			return fmt.Errorf("attention: Bias needs %d elements, has %d", last, len(b))
		}
	}
	return nil
}

// bias returns the additive bias of score (b, h, i, j).
func (a *Args) bias(b, h, i, j int) float32 {
	var s float32
	m := &a.Mask
	if m.KeyValid != nil && !m.KeyValid[b*a.KVLen+j] {
		s += MaskBias
	}
	if m.Causal && j > i+m.CausalOffset {
		s += MaskBias
	}
	if m.Bias != nil {
		s += m.Bias[b*m.BiasBatchStride+h*m.BiasHeadStride+i*a.KVLen+j]
	}
	return s
}

// Plain is the straightforward float32 kernel the model starts from: per
// (batch, head, query row) it fills a score row, takes the max-subtracted
// softmax and sums the weighted values. It is written to be read, not to be
// fast; goroutines split the (batch, head) pairs.
type Plain struct{}

func (Plain) Name() string { return "plain" }

func (Plain) Forward(a *Args) error {
	if err := a.Validate(); err != nil {
		return err
	}
	scale := a.ScaleOrDefault()
	pairs := a.Batch * a.Heads
	threads := min(a.ThreadCount(), pairs)
	var wg sync.WaitGroup
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := make([]float32, a.KVLen) // one score row
			for p := t; p < pairs; p += threads {
				b, h := p/a.Heads, p%a.Heads
				for i := range a.QLen {
					q := a.Q.Data[b*a.Q.BatchStride+i*a.Q.RowStride+h*a.Q.HeadStride:][:a.HeadDim]
					maxS := float32(math.Inf(-1))
					for j := range a.KVLen {
						k := a.K.Data[b*a.K.BatchStride+j*a.K.RowStride+h*a.K.HeadStride:][:a.HeadDim]
						var dot float32
						for c, qc := range q {
							dot += qc * k[c]
						}
						s[j] = dot*scale + a.bias(b, h, i, j)
						maxS = max(maxS, s[j])
					}
					var sum float32
					for j := range s {
						s[j] = float32(math.Exp(float64(s[j] - maxS)))
						sum += s[j]
					}
					o := a.Out.Data[b*a.Out.BatchStride+i*a.Out.RowStride+h*a.Out.HeadStride:][:a.HeadDim]
					clear(o)
					for j, pj := range s {
						v := a.V.Data[b*a.V.BatchStride+j*a.V.RowStride+h*a.V.HeadStride:][:a.HeadDim]
						w := pj / sum
						for c := range o {
							o[c] += w * v[c]
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	return nil
}
