package model

import (
	"cmp"
	"github.com/tessella-ml/tessella/internal/vec"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

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
