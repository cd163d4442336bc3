package attention

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// layout says how a test lays out Q, K, V and Out in memory.
type layout int

const (
	layoutModel  layout = iota // (B, N, H·D): heads side by side, as the model stores them
	layoutHeads                // (B, H, N, D): each head contiguous
	layoutPadded               // (B, N, H·D + 5): rows padded, so nothing is contiguous
)

type shape struct {
	b, h, nq, nk, d int
}

type maskKind int

const (
	maskNone maskKind = iota
	maskCausal
	maskCausalOffset // causal with offset nk−nq (decoder with a KV cache)
	maskCausalNeg    // causal with offset −2: the first rows see no key at all
	maskPad          // key padding, every batch keeps ≥ 1 key
	maskPadAll       // key padding where batch 0 has no valid key at all
	maskBias         // additive bias broadcast over batch
	maskAll          // padding + causal + bias together
	maskPadCausal    // padding + causal, no bias (the kernels' fast mask path and causal skipping)
	numMasks
)

func (m maskKind) String() string {
	return [...]string{"none", "causal", "causal+off", "causal-neg", "pad", "pad-all", "bias", "all", "pad+causal"}[m]
}

func operand(r *rand.Rand, l layout, s shape, rows int, fill bool, mag float64) Operand {
	var o Operand
	switch l {
	case layoutModel:
		o = Operand{BatchStride: rows * s.h * s.d, RowStride: s.h * s.d, HeadStride: s.d}
	case layoutHeads:
		o = Operand{BatchStride: s.h * rows * s.d, RowStride: s.d, HeadStride: rows * s.d}
	case layoutPadded:
		o = Operand{BatchStride: rows*(s.h*s.d+5) + 3, RowStride: s.h*s.d + 5, HeadStride: s.d}
	}
	o.Data = make([]float32, s.b*o.BatchStride+rows*o.RowStride+s.h*o.HeadStride)
	for i := range o.Data {
		if fill {
			o.Data[i] = float32(r.NormFloat64() * mag)
		} else {
			o.Data[i] = float32(math.NaN()) // kernels must not read Out
		}
	}
	return o
}

func makeArgs(r *rand.Rand, s shape, l layout, mk maskKind, threads int, mag float64) *Args {
	a := &Args{Batch: s.b, Heads: s.h, QLen: s.nq, KVLen: s.nk, HeadDim: s.d, Threads: threads}
	a.Q = operand(r, l, s, s.nq, true, mag)
	a.K = operand(r, l, s, s.nk, true, mag)
	a.V = operand(r, l, s, s.nk, true, 1)
	a.Out = operand(r, l, s, s.nq, false, 1)
	pad := func(all bool) {
		a.Mask.KeyValid = make([]bool, s.b*s.nk)
		for b := range s.b {
			for j := range s.nk {
				a.Mask.KeyValid[b*s.nk+j] = r.IntN(3) > 0 && !(all && b == 0)
			}
			if !all || b > 0 {
				a.Mask.KeyValid[b*s.nk+r.IntN(s.nk)] = true
			}
		}
	}
	bias := func() {
		a.Mask.Bias = make([]float32, s.h*s.nq*s.nk)
		for i := range a.Mask.Bias {
			a.Mask.Bias[i] = float32(r.NormFloat64())
		}
		a.Mask.BiasHeadStride = s.nq * s.nk
	}
	switch mk {
	case maskCausal:
		a.Mask.Causal = true
	case maskCausalOffset:
		a.Mask.Causal, a.Mask.CausalOffset = true, s.nk-s.nq
	case maskCausalNeg:
		a.Mask.Causal, a.Mask.CausalOffset = true, -2
	case maskPad:
		pad(false)
	case maskPadAll:
		pad(true)
	case maskBias:
		bias()
	case maskAll:
		pad(false)
		bias()
		a.Mask.Causal = true
	case maskPadCausal:
		pad(false)
		a.Mask.Causal, a.Mask.CausalOffset = true, s.nk-s.nq
	}
	return a
}

// clone returns a with a fresh NaN-filled Out.
func clone(a *Args) *Args {
	c := *a
	c.Out.Data = make([]float32, len(a.Out.Data))
	for i := range c.Out.Data {
		c.Out.Data[i] = float32(math.NaN())
	}
	return &c
}

// tolerance is the allowed max |Δ| of a float32 kernel against Reference:
//
//	tol = 4ε · max|V| · (√D + log2(Nk) + 4 + max|S|),   ε = 2⁻²⁴ (float32 unit roundoff)
//
// float32 rounding of the D-term dot products gives score errors ~ ε·√D,
// the softmax and P·V sums add ~ε·log2(Nk) (blocked summation), and a score
// of magnitude |S| carries an absolute rounding error ε·|S| that exp turns
// into a relative error of the weights. With unit-normal inputs the measured
// errors are ≤ 0.1 of this bound, with 30× inputs ≤ 0.25.
func tolerance(a *Args, maxS float64) float64 {
	var vmax float64
	for _, v := range a.V.Data {
		vmax = max(vmax, math.Abs(float64(v)))
	}
	const eps = 1.0 / (1 << 24)
	return 4 * eps * vmax * (math.Sqrt(float64(a.HeadDim)) + math.Log2(float64(a.KVLen)) + 4 + maxS)
}

// maxScore is max |scale·q·k| over the whole call (no bias).
func maxScore(a *Args) float64 {
	scale := float64(a.ScaleOrDefault())
	var m float64
	for b := range a.Batch {
		for h := range a.Heads {
			for i := range a.QLen {
				q := row(&a.Q, b, i, h, a.HeadDim)
				for j := range a.KVLen {
					k := row(&a.K, b, j, h, a.HeadDim)
					var dot float64
					for c := range q {
						dot += float64(q[c]) * float64(k[c])
					}
					m = max(m, math.Abs(dot*scale))
				}
			}
		}
	}
	return m
}

// compare checks every output element of k against want (from Reference).
func compare(t *testing.T, k Kernel, a *Args, want *Args, tol float64) {
	t.Helper()
	got := clone(a)
	if err := k.Forward(got); err != nil {
		t.Fatalf("%s: %v", k.Name(), err)
	}
	var worst float64
	for b := range a.Batch {
		for h := range a.Heads {
			for i := range a.QLen {
				g := row(&got.Out, b, i, h, a.HeadDim)
				w := row(&want.Out, b, i, h, a.HeadDim)
				for c := range g {
					d := math.Abs(float64(g[c]) - float64(w[c]))
					if !(d <= tol) { // catches NaN
						t.Fatalf("%s: Out[b=%d,i=%d,h=%d,c=%d] = %g, reference %g (|Δ| %g > tol %g)",
							k.Name(), b, i, h, c, g[c], w[c], d, tol)
					}
					worst = max(worst, d)
				}
			}
		}
	}
	t.Logf("%s: max|Δ| %.3g (tol %.3g)", k.Name(), worst, tol)
	// Out must be untouched outside the rows' D-wide head slices.
	inside := make([]bool, len(got.Out.Data))
	for b := range a.Batch {
		for i := range a.QLen {
			for h := range a.Heads {
				off := b*a.Out.BatchStride + i*a.Out.RowStride + h*a.Out.HeadStride
				for c := range a.HeadDim {
					inside[off+c] = true
				}
			}
		}
	}
	for i, v := range got.Out.Data {
		if !math.IsNaN(float64(v)) && !inside[i] {
			t.Fatalf("%s wrote Out.Data[%d] outside its operand", k.Name(), i)
		}
	}
}

var testShapes = []shape{
	{1, 1, 1, 1, 1},
	{1, 1, 1, 7, 64},    // decode, tiny cache
	{2, 3, 1, 65, 64},   // decode, odd cache
	{2, 2, 17, 17, 64},  // odd square
	{1, 2, 64, 64, 64},  // encoder-like
	{2, 1, 70, 33, 128}, // q_len ≠ kv_len, D = 128
	{1, 2, 5, 130, 48},  // D not a multiple of 32, kv > block
	{2, 2, 131, 131, 64},
	{1, 1, 3, 200, 80},
	{1, 1, 67, 129, 16},
}

func kernelsUnderTest() []Kernel {
	var ks []Kernel
	for _, k := range Kernels() {
		if k.Name() != "reference" {
			ks = append(ks, k)
		}
	}
	return ks
}

// TestKernels compares every kernel with Reference on every shape, layout,
// mask and thread count 1 and 2, within tolerance().
func TestKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for _, s := range testShapes {
		for _, l := range []layout{layoutModel, layoutHeads, layoutPadded} {
			for mk := maskKind(0); mk < numMasks; mk++ {
				if l != layoutModel && mk != maskAll && mk != maskPadCausal && mk != maskNone {
					continue // other layouts: two masks are enough
				}
				compareAll(t, makeArgs(r, s, l, mk, 1, 1), fmt.Sprintf("%v/layout%d/%v", s, l, mk))
			}
		}
	}
}

// TestFullyMasked pins down the −1e12 semantics: a row with no valid key
// gets the plain mean of V over all keys (every score is float32(−1e12));
// a row whose keys are padded-and-future or future only averages over the
// future-only ones (−1e12 beats −2e12); and −1e12 from padding ties with
// −1e12 from causality.
func TestFullyMasked(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s := shape{2, 2, 5, 9, 64}
	a := makeArgs(r, s, layoutModel, maskPadAll, 1, 1)
	for _, k := range append([]Kernel{Reference{}}, kernelsUnderTest()...) {
		got := clone(a)
		if err := k.Forward(got); err != nil {
			t.Fatal(err)
		}
		for h := range s.h {
			for i := range s.nq {
				o := row(&got.Out, 0, i, h, s.d)
				for c := range o {
					var mean float64
					for j := range s.nk {
						mean += float64(row(&a.V, 0, j, h, s.d)[c])
					}
					mean /= float64(s.nk)
					if d := math.Abs(float64(o[c]) - mean); d > 1e-5 {
						t.Fatalf("%s: fully masked row h=%d i=%d c=%d = %g, want mean of V %g", k.Name(), h, i, c, o[c], mean)
					}
				}
			}
		}
	}
	// Padding on keys 0..2 only, causal offset −1: row 0 sees no key (all
	// causal-masked, −1e12 each, plus −1e12 on the padded ones) → mean over
	// the unpadded keys 3..8 (they carry −1e12, the others −2e12).
	a = makeArgs(r, shape{1, 1, 3, 9, 64}, layoutModel, maskNone, 1, 1)
	a.Mask.KeyValid = []bool{false, false, false, true, true, true, true, true, true}
	a.Mask.Causal, a.Mask.CausalOffset = true, -1
	for _, k := range append([]Kernel{Reference{}}, kernelsUnderTest()...) {
		got := clone(a)
		if err := k.Forward(got); err != nil {
			t.Fatal(err)
		}
		o := row(&got.Out, 0, 0, 0, 64)
		for c := range o {
			var mean float64
			for j := 3; j < 9; j++ {
				mean += float64(row(&a.V, 0, j, 0, 64)[c])
			}
			mean /= 6
			if d := math.Abs(float64(o[c]) - mean); d > 1e-5 {
				t.Fatalf("%s: row 0 c=%d = %g, want mean over unpadded keys %g", k.Name(), c, o[c], mean)
			}
		}
	}
	// Ties between mask sources: row 0 (causal offset 0) sees only key 0,
	// which is padded (−1e12); keys 1, 2 are padded and in the future
	// (−2e12); keys 3 … 8 are unpadded but in the future (−1e12). The row is
	// fully masked and the −1e12 keys tie: uniform over {0, 3, …, 8}. A
	// kernel that skipped the future keys would return V[0] instead.
	a.Mask.CausalOffset = 0
	for _, k := range append([]Kernel{Reference{}}, kernelsUnderTest()...) {
		got := clone(a)
		if err := k.Forward(got); err != nil {
			t.Fatal(err)
		}
		o := row(&got.Out, 0, 0, 0, 64)
		for c := range o {
			mean := float64(row(&a.V, 0, 0, 0, 64)[c])
			for j := 3; j < 9; j++ {
				mean += float64(row(&a.V, 0, j, 0, 64)[c])
			}
			mean /= 7
			if d := math.Abs(float64(o[c]) - mean); d > 1e-5 {
				t.Fatalf("%s: tie row c=%d = %g, want mean over keys 0, 3…8 %g", k.Name(), c, o[c], mean)
			}
		}
	}
}

// TestLargeMagnitude uses inputs 30× larger than unit normal (scores in the
// hundreds to thousands, softmax essentially one-hot), with and without
// masks; tolerance() grows with max|S|.
func TestLargeMagnitude(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, mk := range []maskKind{maskNone, maskCausal, maskPad, maskPadAll} {
		a := makeArgs(r, shape{2, 2, 33, 70, 64}, layoutModel, mk, 2, 30)
		want := clone(a)
		if err := (Reference{}).Forward(want); err != nil {
			t.Fatal(err)
		}
		tol := tolerance(a, maxScore(a))
		for _, k := range kernelsUnderTest() {
			t.Run(fmt.Sprintf("%s/%v", k.Name(), mk), func(t *testing.T) { compare(t, k, a, want, tol) })
		}
	}
}

// TestValidate checks that bad Args come back as errors from every kernel
// (Auto included), before any goroutine starts: each case ran into an
// index panic, a panic in a worker goroutine, or a silently wrong result
// before Validate refused it.
func TestValidate(t *testing.T) {
	const huge = 1 << 62
	for _, tc := range []struct {
		name string
		edit func(a *Args)
		want string // in the error
	}{
		{"short K", func(a *Args) { a.K.Data = a.K.Data[:10] }, "K needs"},
		{"HeadDim 0", func(a *Args) { a.HeadDim = 0 }, "non-positive shape"},
		{"negative Q stride", func(a *Args) { a.Q.RowStride = -1 }, "negative"},
		{"negative bias head stride", func(a *Args) {
			a.Mask.Bias = make([]float32, 256)
			a.Mask.BiasHeadStride = -1
		}, "BiasHeadStride"},
		{"negative bias batch stride", func(a *Args) {
			a.Mask.Bias = make([]float32, 256)
			a.Mask.BiasBatchStride = -8
		}, "BiasBatchStride"},
		{"batch stride overflow, one operand", func(a *Args) { a.Q.BatchStride = huge }, "overflow"},
		{"batch stride overflow, every operand", func(a *Args) {
			a.Q.BatchStride, a.K.BatchStride, a.V.BatchStride, a.Out.BatchStride = huge, huge, huge, huge
		}, "overflow"},
		{"row stride overflow", func(a *Args) { a.K.RowStride = huge }, "overflow"},
		{"strides overflow only in their sum", func(a *Args) {
			a.V.BatchStride, a.V.RowStride = huge, huge/7+1
		}, "overflow"},
		{"bias stride overflow", func(a *Args) {
			a.Mask.Bias = make([]float32, 256)
			a.Mask.BiasBatchStride = huge
		}, "overflow"},
		{"q_len×kv_len overflow", func(a *Args) {
			a.QLen, a.KVLen = 1<<32, 1<<32
			a.Q.RowStride, a.K.RowStride, a.V.RowStride, a.Out.RowStride = 0, 0, 0, 0
			a.Mask.Bias = []float32{0}
		}, "overflow"},
		{"batch×kv_len overflow", func(a *Args) {
			a.Batch, a.KVLen = 1<<32, 1<<32
			for _, o := range []*Operand{&a.Q, &a.K, &a.V, &a.Out} {
				o.BatchStride, o.RowStride = 0, 0
			}
			a.Mask.KeyValid = []bool{true}
		}, "overflow"},
		{"batch×heads×q_len overflow", func(a *Args) { // Decode divided by a wrapped row count of 0
			a.Batch, a.Heads, a.QLen, a.KVLen, a.HeadDim = 1<<31, 1<<31, 4, 4, 1
			for _, o := range []*Operand{&a.Q, &a.K, &a.V, &a.Out} {
				o.BatchStride, o.RowStride, o.HeadStride = 0, 0, 0
			}
		}, "overflow"},
		{"scale NaN", func(a *Args) { a.Scale = float32(math.NaN()) }, "Scale"},
		{"scale +Inf", func(a *Args) { a.Scale = float32(math.Inf(1)) }, "Scale"},
		{"scale -Inf", func(a *Args) { a.Scale = float32(math.Inf(-1)) }, "Scale"},
	} {
		for _, k := range append(Kernels(), &Auto{}) {
			t.Run(tc.name+"/"+k.Name(), func(t *testing.T) {
				r := rand.New(rand.NewPCG(1, 1))
				// Two threads, so that a kernel that got past Validate
				// would index out of range inside a worker goroutine.
				a := makeArgs(r, shape{3, 2, 8, 8, 8}, layoutModel, maskNone, 2, 1)
				tc.edit(a)
				err := k.Forward(a)
				if err == nil || !strings.HasPrefix(err.Error(), "attention: ") || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one containing %q", err, tc.want)
				}
			})
		}
	}
	for _, k := range append(Kernels(), &Auto{}) {
		if err := k.Forward(nil); err == nil {
			t.Errorf("%s: nil Args accepted", k.Name())
		}
	}
}

// TestNarrowRowStride checks that every kernel accepts what Validate
// accepts: a row stride of 0 (one row broadcast over all query or key
// positions) or below HeadDim (rows overlapping) on Q, K and V, and on Out
// with a single query row, and matches Reference there. Naive used to
// hand such strides to matmul, which panicked.
func TestNarrowRowStride(t *testing.T) {
	for _, tc := range []struct {
		name         string
		s            shape
		q, k, v, out int // row strides; -1 keeps the layout's
		mk           maskKind
	}{
		{"Q broadcast", shape{1, 1, 2, 3, 4}, 0, -1, -1, -1, maskNone},
		{"K and V broadcast", shape{1, 1, 2, 3, 4}, -1, 0, 0, -1, maskNone},
		{"K broadcast", shape{2, 2, 5, 7, 16}, -1, 0, -1, -1, maskCausal},
		{"V broadcast", shape{2, 2, 5, 7, 16}, -1, -1, 0, -1, maskPad},
		{"all broadcast", shape{2, 3, 9, 33, 64}, 0, 0, 0, -1, maskAll},
		{"overlapping rows", shape{2, 2, 17, 40, 16}, 3, 1, 5, -1, maskBias},
		{"Out stride 0, one row", shape{2, 2, 1, 9, 8}, 0, 1, 0, 0, maskPad},
	} {
		r := rand.New(rand.NewPCG(4, 2))
		a := makeArgs(r, tc.s, layoutModel, tc.mk, 1, 1)
		for _, x := range []struct {
			o  *Operand
			rs int
		}{{&a.Q, tc.q}, {&a.K, tc.k}, {&a.V, tc.v}, {&a.Out, tc.out}} {
			if x.rs >= 0 {
				x.o.RowStride = x.rs
			}
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		compareAll(t, a, tc.name)
	}
}

// TestDecodeNoAlloc checks that Decode reuses its buffers: no allocation per
// call with one thread.
func TestDecodeNoAlloc(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	a := makeArgs(r, shape{2, 4, 1, 256, 64}, layoutModel, maskPad, 1, 1)
	dk := &Decode{}
	allocs := testing.AllocsPerRun(50, func() {
		if err := dk.Forward(a); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %v times per call, want 0", allocs)
	}
}

// TestFlashWorkspace checks that Flash with a caller workspace of
// ScratchBytes allocates nothing with one thread, and still matches Reference.
func TestFlashWorkspace(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	a := makeArgs(r, shape{2, 2, 70, 90, 64}, layoutModel, maskCausal, 1, 1)
	want := clone(a)
	if err := (Reference{}).Forward(want); err != nil {
		t.Fatal(err)
	}
	a.Workspace = make([]float32, Flash{}.ScratchBytes(a)/4)
	allocs := testing.AllocsPerRun(20, func() {
		if err := (Flash{}).Forward(a); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Flash with a workspace allocates %v times per call, want 0", allocs)
	}
	compare(t, Flash{}, a, want, tolerance(a, maxScore(a)))
}

// TestBest checks the dispatch rule's choices.
func TestBest(t *testing.T) {
	if n := Best(&Args{QLen: 1, KVLen: 256}).Name(); n != "decode" {
		t.Errorf("Best(QLen 1) = %s, want decode", n)
	}
	if n := Best(&Args{QLen: 256, KVLen: 256}).Name(); n != "flash" {
		t.Errorf("Best(QLen 256) = %s, want flash", n)
	}
}

// compareAll checks every kernel under test, at 1 and 2 threads, against
// the Reference on a, within tolerance (subtests KERNEL/name/tT).
func compareAll(t *testing.T, a *Args, name string) {
	t.Helper()
	want := clone(a)
	if err := (Reference{}).Forward(want); err != nil {
		t.Fatal(err)
	}
	tol := tolerance(a, maxScore(a))
	for _, threads := range []int{1, 2} {
		for _, k := range kernelsUnderTest() {
			t.Run(fmt.Sprintf("%s/%s/t%d", k.Name(), name, threads), func(t *testing.T) {
				a.Threads = threads
				compare(t, k, a, want, tol)
			})
		}
	}
}
