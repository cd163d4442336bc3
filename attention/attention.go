package attention

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/tessella-ml/tessella/internal/size"
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
// kernel needs a transposed copy. Strides must not be negative; a stride of 0
// (or a row stride below HeadDim) is allowed and broadcasts (or overlaps) the
// rows, heads or batches of Q, K and V. Out should not overlap itself: which
// of the overlapping writes survives is unspecified.
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
	// broadcasts over that dimension; strides must not be negative.
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
	// Scale multiplies Q·Kᵀ; 0 means 1/√HeadDim. It must be finite.
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

// Validate checks that every index a kernel will touch is inside its slice:
// positive shapes, non-negative strides (on the operands and the bias), and
// slices long enough for the largest index, computed with overflow checks
// (strides whose extent overflows an int are refused, and so are shapes
// whose Batch×Heads×QLen×KVLen overflows). A row stride of 0,
// or one below HeadDim, is allowed (rows broadcast or overlap). Scale must
// be finite (0 means the default). A nil *Args is an error.
func (a *Args) Validate() error {
	if a == nil {
		return errors.New("attention: nil Args")
	}
	if a.Batch <= 0 || a.Heads <= 0 || a.QLen <= 0 || a.KVLen <= 0 || a.HeadDim <= 0 {
		return fmt.Errorf("attention: non-positive shape batch=%d heads=%d q_len=%d kv_len=%d head_dim=%d",
			a.Batch, a.Heads, a.QLen, a.KVLen, a.HeadDim)
	}
	if s := float64(a.Scale); math.IsNaN(s) || math.IsInf(s, 0) {
		return fmt.Errorf("attention: Scale %v is not finite", a.Scale)
	}
	// Every count the kernels form (scores, rows, KeyValid flags, a probs
	// buffer) divides batch×heads×q_len×kv_len.
	if !size.Fits(a.Batch, a.Heads, a.QLen, a.KVLen) {
		return fmt.Errorf("attention: batch×heads×q_len×kv_len = %d×%d×%d×%d overflows int", a.Batch, a.Heads, a.QLen, a.KVLen)
	}
	scores := a.QLen * a.KVLen
	check := func(name string, o Operand, rows int) error {
		if o.BatchStride < 0 || o.RowStride < 0 || o.HeadStride < 0 {
			return fmt.Errorf("attention: %s has a negative stride (batch %d, row %d, head %d)",
				name, o.BatchStride, o.RowStride, o.HeadStride)
		}
		need, ok := extent(a.HeadDim, a.Batch, o.BatchStride, rows, o.RowStride, a.Heads, o.HeadStride)
		if !ok {
			return fmt.Errorf("attention: %s strides (batch %d, row %d, head %d) overflow int",
				name, o.BatchStride, o.RowStride, o.HeadStride)
		}
		if need > len(o.Data) {
			return fmt.Errorf("attention: %s needs %d elements, has %d", name, need, len(o.Data))
		}
		return nil
	}
	if err := errors.Join(check("Q", a.Q, a.QLen), check("K", a.K, a.KVLen),
		check("V", a.V, a.KVLen), check("Out", a.Out, a.QLen)); err != nil {
		return err
	}
	m := &a.Mask
	if m.KeyValid != nil {
		if need := a.Batch * a.KVLen; len(m.KeyValid) < need {
			return fmt.Errorf("attention: KeyValid has %d flags, needs %d", len(m.KeyValid), need)
		}
	}
	if m.Bias != nil {
		if m.BiasBatchStride < 0 || m.BiasHeadStride < 0 {
			return fmt.Errorf("attention: Bias has a negative stride (BiasBatchStride %d, BiasHeadStride %d)",
				m.BiasBatchStride, m.BiasHeadStride)
		}
		need, ok := extent(scores, a.Batch, m.BiasBatchStride, a.Heads, m.BiasHeadStride)
		if !ok {
			return fmt.Errorf("attention: Bias strides (BiasBatchStride %d, BiasHeadStride %d) overflow int",
				m.BiasBatchStride, m.BiasHeadStride)
		}
		if need > len(m.Bias) {
			return fmt.Errorf("attention: Bias needs %d elements, has %d", need, len(m.Bias))
		}
	}
	return nil
}

// extent returns base + Σ (n−1)·stride over the (n, stride) pairs that
// follow — one past the largest index a strided view with base elements in
// its innermost run touches — and false if that overflows an int. base ≥ 0,
// every n ≥ 1 and every stride ≥ 0. Every index a kernel computes is a
// partial sum of these non-negative terms, so none of them overflows either.
func extent(base int, pairs ...int) (int, bool) {
	for p := 0; p+1 < len(pairs); p += 2 {
		n, s := pairs[p]-1, pairs[p+1]
		if n > 0 && s > (math.MaxInt-base)/n {
			return 0, false
		}
		base += n * s
	}
	return base, true
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
