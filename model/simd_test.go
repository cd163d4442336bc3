package model

import (
	"cmp"
	"github.com/tessella-ml/tessella/internal/vec"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// geluTol bounds |geluMul − exact| per element: relative to (1 + |x|)·|v|.
// The A&S 7.1.26 erf error (≤ 1.5e-7, times 0.5·|x|) plus float32 rounding
// of a few operations stays below 3e-7·(1 + |x|); a wrong constant, sign or
// lane moves values by ≥ 1e-3.
const geluTol = 3e-7

// checkGELU compares geluMul on (x, v) with the float64 formula.
// It returns the largest |Δ| / ((1 + |x|)·|v|).
func checkGELU(t *testing.T, x, v []float32) float64 {
	t.Helper()
	var worst float64
	w := append([]float32(nil), x...)
	geluMul(w, v)
	for i := range x {
		want := float64(gelu(x[i])) * float64(v[i])
		got := float64(w[i])
		if math.IsNaN(want) != math.IsNaN(got) {
			t.Fatalf("x=%g v=%g: got %g, want %g", x[i], v[i], got, want)
		}
		if math.IsNaN(want) || math.IsInf(want, 0) && got == want {
			continue
		}
		scale := (1 + math.Abs(float64(x[i]))) * math.Abs(float64(v[i]))
		if scale > 0 {
			worst = max(worst, math.Abs(got-want)/scale)
		}
		tol := geluTol * scale
		if d := math.Abs(got - want); !(d <= tol) {
			t.Fatalf("n=%d i=%d x=%g v=%g: got %g, want %g (|Δ| %.3g > %.3g)", len(x), i, x[i], v[i], got, want, d, tol)
		}
	}
	return worst
}

func TestGELUFastMatchesExact(t *testing.T) {
	t.Logf("AVX-512 kernel: %v", useAVX512)
	// A dense sweep over [-12, 12] and every length 0..40 (tails).
	var x, v []float32
	for i := -120000; i <= 120000; i++ {
		x = append(x, float32(i)*1e-4)
		v = append(v, 1)
	}
	t.Logf("sweep [-12, 12]: max |Δ|/(1+|x|) = %.3g (tolerance %g)", checkGELU(t, x, v), geluTol)
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 41 {
		x, v := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 4)
			v[i] = float32(r.NormFloat64())
		}
		checkGELU(t, x, v)
	}
	// Extremes: ±0, tiny, huge, ±Inf, NaN.
	inf := float32(math.Inf(1))
	ext := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-40, 50, -50, 1e30, -1e30, inf, -inf, float32(math.NaN())}
	ones := make([]float32, len(ext))
	for i := range ones {
		ones[i] = 1
	}
	checkGELU(t, ext, ones)
}

// TestGELUApproxFormula checks the approximation itself (float64, no
// rounding) against math.Erf: ≤ 1.5e-7·0.5·|x| + 1e-15.
func TestGELUApproxFormula(t *testing.T) {
	for i := -200000; i <= 200000; i++ {
		x := float64(i) * 1e-4
		want := 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
		if d := math.Abs(geluApprox(x) - want); d > 1.5e-7*0.5*math.Abs(x)+1e-15 {
			t.Fatalf("x=%g: approx %g, erf %g (|Δ| %g)", x, geluApprox(x), want, d)
		}
	}
}

// TestGELUNoOverrun checks that the kernel writes exactly len(w) elements.
func TestGELUNoOverrun(t *testing.T) {
	for n := range 35 {
		buf := make([]float32, n+16)
		for i := range buf {
			buf[i] = 7
		}
		v := make([]float32, n+16)
		geluMul(buf[:n], v)
		for i := n; i < len(buf); i++ {
			if buf[i] != 7 {
				t.Fatalf("n=%d: element %d overwritten", n, i)
			}
		}
	}
}

func FuzzGELUMul(f *testing.F) {
	f.Add(float32(0.5), float32(-3), 17, uint64(1))
	f.Add(float32(20), float32(1e-3), 1, uint64(2))
	f.Add(float32(-9), float32(9), 64, uint64(3))
	f.Fuzz(func(t *testing.T, a, b float32, n int, seed uint64) {
		if n < 0 || n > 4096 || math.IsNaN(float64(a)) || math.IsNaN(float64(b)) ||
			math.Abs(float64(a)) > 1e6 || math.Abs(float64(b)) > 1e6 {
			t.Skip()
		}
		r := rand.New(rand.NewPCG(seed, 7))
		x, v := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i] = a + float32(r.NormFloat64())*b
			v[i] = float32(r.NormFloat64())
		}
		checkGELU(t, x, v)
	})
}

// TestSelectAscMatchesSort checks selection against slices.Sort on random
// rows with duplicates, ±0 and NaN, for every index of small rows and
// sampled indices of large ones.
func TestSelectAscMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	nan := float32(math.NaN())
	for trial := range 400 {
		n := 1 + r.IntN(60)
		if trial%10 == 0 {
			n = 1000 + r.IntN(20000)
		}
		a := make([]float32, n)
		for i := range a {
			switch r.IntN(12) {
			case 0:
				a[i] = nan
			case 1:
				a[i] = float32(math.Copysign(0, -1))
			case 2:
				a[i] = 0
			case 3:
				a[i] = float32(r.IntN(3)) // duplicates
			default:
				a[i] = float32(r.NormFloat64() * 10)
			}
		}
		if trial%7 == 0 { // sorted and reversed inputs
			slices.Sort(a)
			if trial%14 == 0 {
				slices.Reverse(a)
			}
		}
		want := slices.Clone(a)
		slices.Sort(want)
		if got := maxOrdered(a); cmp.Compare(got, want[n-1]) != 0 {
			t.Fatalf("n=%d: max %g, sort says %g", n, got, want[n-1])
		}
		idxs := []int{0, n - 1, n / 2, max(0, n-256)}
		if n <= 60 {
			idxs = idxs[:0]
			for i := range n {
				idxs = append(idxs, i)
			}
		}
		for _, idx := range idxs {
			b := slices.Clone(a)
			if got := selectAsc(b, idx); cmp.Compare(got, want[idx]) != 0 {
				t.Fatalf("trial %d n=%d idx=%d: select %g, sort %g", trial, n, idx, got, want[idx])
			}
		}
	}
}

// TestLayerNormFast compares the LayerNorm pieces with their plain loops:
// the statistics within 1e-12 relative (only the float64 summation order
// differs) and normAffine within 1 ulp of t·w plus 1 ulp of y (t, the
// normalised value, can round differently only when mean or inv differ in
// the last bits; with the same mean and inv the kernel is bit-exact).
func TestLayerNormFast(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 1024, 2730} {
		x, w, b := make([]float32, n), make([]float32, n), make([]float32, n)
		var abs float64
		for i := range x {
			x[i] = float32(r.NormFloat64()*3 + 5)
			w[i] = float32(r.NormFloat64())
			b[i] = float32(r.NormFloat64())
			abs += math.Abs(float64(x[i]))
		}
		mean, inv := checkLayerNormPieces(t, x, w, b, abs)
		// In place, and the whole layerNorm against a float64 LayerNorm
		// (width 0 has no rows).
		if n == 0 {
			continue
		}
		ln := layerNorm{w: w, b: b, eps: 1e-5}
		y := slices.Clone(x)
		ln.forward(y, y)
		for i := range y {
			tv := (float64(x[i]) - mean) * inv
			exact := tv*float64(w[i]) + float64(b[i])
			tol := math.Abs(tv*float64(w[i]))*0x1p-23 + math.Abs(exact)*0x1p-23 + 1e-30
			if d := math.Abs(float64(y[i]) - exact); d > 2*tol {
				t.Fatalf("n=%d i=%d: layerNorm %g, float64 %g (|Δ| %g > %g)", n, i, y[i], exact, d, 2*tol)
			}
		}
	}
}

// checkLayerNormPieces compares the LayerNorm kernels with the plain loops
// on one row (abs = Σ|x|): the statistics within 1e-12 relative, normAffine
// bit-exact given the same mean and inv (NaN matches NaN). It returns the
// plain mean and 1/√(var + 1e-5).
func checkLayerNormPieces(t *testing.T, x, w, b []float32, abs float64) (mean, inv float64) {
	t.Helper()
	n := len(x)
	s, sp := vec.Sum64(x), vec.Sum64Plain(x)
	if math.Abs(s-sp) > 1e-12*(1+abs) {
		t.Fatalf("n=%d: sum %g, plain %g", n, s, sp)
	}
	mean = sp / float64(max(n, 1))
	q, qp := vec.SumSqDev64(x, mean), vec.SumSqDev64Plain(x, mean)
	if math.Abs(q-qp) > 1e-12*(1+qp) {
		t.Fatalf("n=%d: Σ(x−mean)² %g, plain %g", n, q, qp)
	}
	inv = 1 / math.Sqrt(qp/float64(max(n, 1))+1e-5)
	got, want := make([]float32, n), make([]float32, n)
	normAffine(got, x, w, b, mean, inv)
	normAffinePlain(want, x, w, b, mean, inv)
	for i := range got {
		if got[i] != want[i] && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
			t.Fatalf("n=%d i=%d: normAffine %g, plain %g", n, i, got[i], want[i])
		}
	}
	return mean, inv
}

// FuzzLayerNormPieces checks the LayerNorm kernels against the plain loops
// on random rows of any length, offset and scale (tolerances as in
// TestLayerNormFast).
func FuzzLayerNormPieces(f *testing.F) {
	f.Add(float32(5), float32(3), 1024, uint64(1))
	f.Add(float32(-1e4), float32(1e-2), 13, uint64(2))
	f.Add(float32(0), float32(1e5), 2730, uint64(3))
	f.Fuzz(func(t *testing.T, off, scale float32, n int, seed uint64) {
		if n < 0 || n > 8192 || !(math.Abs(float64(off)) < 1e6) || !(math.Abs(float64(scale)) < 1e6) {
			t.Skip()
		}
		r := rand.New(rand.NewPCG(seed, 13))
		x, w, b := make([]float32, n), make([]float32, n), make([]float32, n)
		var abs float64
		for i := range x {
			x[i] = off + float32(r.NormFloat64())*scale
			w[i] = float32(r.NormFloat64())
			b[i] = float32(r.NormFloat64())
			abs += math.Abs(float64(x[i]))
		}
		checkLayerNormPieces(t, x, w, b, abs)
	})
}
