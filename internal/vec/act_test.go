package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// geluTol bounds |GELUMul − exact| per element: relative to (1 + |x|)·|v|.
// The A&S 7.1.26 erf error (≤ 1.5e-7, times 0.5·|x|) plus float32 rounding
// of a few operations stays below 3e-7·(1 + |x|); a wrong constant, sign or
// lane moves values by ≥ 1e-3.
const geluTol = 3e-7

// checkGELU compares GELUMul on (x, v) with the float64 formula.
// It returns the largest |Δ| / ((1 + |x|)·|v|).
func checkGELU(t *testing.T, x, v []float32) float64 {
	t.Helper()
	var worst float64
	w := append([]float32(nil), x...)
	GELUMul(w, v)
	for i := range x {
		want := float64(GELU(x[i])) * float64(v[i])
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
		GELUMul(buf[:n], v)
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

// swishUlps bounds the AVX-512 swish against the plain loop (float64
// sigmoid) in float32 ulps of the plain result, plus an absolute 1e-36 for
// results that underflow (y < −88.8, where the kernel returns −0). A
// float32 exp within ~2 ulp, the 1 + e rounding and one division measured
// ≤ 3 ulp on a dense sweep of [−100, 100]; 6 leaves margin, and a wrong
// constant or lane is off by far more.
const swishUlps = 6

// checkSwish compares AffineSwish with AffineSwishPlain on src and returns
// the largest difference in ulps.
func checkSwish(t *testing.T, src []float32, s, tt float32) float64 {
	t.Helper()
	got := make([]float32, len(src))
	want := make([]float32, len(src))
	AffineSwish(got, src, s, tt)
	AffineSwishPlain(want, src, s, tt)
	var worst float64
	for i := range src {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(w) || math.IsNaN(g) {
			if math.IsNaN(w) != math.IsNaN(g) {
				t.Fatalf("x=%g (y=%g): got %g, want %g", src[i], src[i]*s+tt, g, w)
			}
			continue
		}
		if g == w {
			continue
		}
		ulp := float64(math.Nextafter32(float32(math.Abs(w)), float32(math.Inf(1)))) - math.Abs(w)
		d := math.Abs(g - w)
		if d <= 1e-36 {
			continue
		}
		worst = max(worst, d/ulp)
		if !(d <= swishUlps*ulp) {
			t.Fatalf("n=%d i=%d x=%g (y=%g): got %g, want %g (%.1f ulp > %d)", len(src), i, src[i], src[i]*s+tt, g, w, d/ulp, swishUlps)
		}
	}
	return worst
}

func TestAffineSwishFast(t *testing.T) {
	t.Logf("AVX-512 kernels: %v", useAVX512)
	var x []float32
	for i := -1000000; i <= 1000000; i++ {
		x = append(x, float32(i)*1e-4) // [-100, 100]
	}
	t.Logf("sweep [-100, 100]: worst %.2f ulp (bound %d)", checkSwish(t, x, 1, 0), swishUlps)
	checkSwish(t, x, -0.7, 0.3)
	r := rand.New(rand.NewPCG(3, 4))
	y := make([]float32, 40)
	for i := range y {
		y[i] = float32(r.NormFloat64())
	}
	for n := range 41 {
		checkSwish(t, y[:n], 1.3, -0.2)
	}
	inf := float32(math.Inf(1))
	checkSwish(t, []float32{0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 1e30, -1e30, inf, -inf, float32(math.NaN())}, 1, 0)
	// In place.
	y = y[:37]
	want := make([]float32, len(y))
	AffineSwish(want, y, 2, 1)
	AffineSwish(y, y, 2, 1)
	for i := range y {
		if y[i] != want[i] {
			t.Fatalf("in place: element %d is %g, want %g", i, y[i], want[i])
		}
	}
}

func TestAffineSwishNoOverrun(t *testing.T) {
	for n := range 35 {
		dst := make([]float32, n+16)
		for i := range dst {
			dst[i] = 7
		}
		AffineSwish(dst[:n], make([]float32, n+16)[:n], 1, 0)
		for i := n; i < len(dst); i++ {
			if dst[i] != 7 {
				t.Fatalf("n=%d: element %d overwritten", n, i)
			}
		}
	}
}

func FuzzAffineSwish(f *testing.F) {
	f.Add(float32(1), float32(0), 17, uint64(1), float32(3))
	f.Add(float32(-2), float32(5), 40, uint64(2), float32(30))
	f.Add(float32(0.01), float32(-1), 3, uint64(3), float32(1e3))
	f.Fuzz(func(t *testing.T, s, tt float32, n int, seed uint64, spread float32) {
		if n < 0 || n > 4096 || !(math.Abs(float64(s)) < 1e4) || !(math.Abs(float64(tt)) < 1e4) || !(math.Abs(float64(spread)) < 1e4) {
			t.Skip()
		}
		r := rand.New(rand.NewPCG(seed, 9))
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64()) * spread
		}
		checkSwish(t, x, s, tt)
		check(t, x)
	})
}

// The kernels on 2²⁰ values (4 MiB per operand).
func BenchmarkGELUMul(b *testing.B) {
	w, v := make([]float32, 1<<20), make([]float32, 1<<20)
	for i := range w {
		w[i], v[i] = float32(i%2000)*0.003-3, 1.5
	}
	for b.Loop() {
		GELUMul(w, v)
	}
}

func BenchmarkAffineSwish(b *testing.B) {
	x, y := make([]float32, 1<<20), make([]float32, 1<<20)
	for i := range x {
		x[i] = float32(i%2000)*0.003 - 3
	}
	for b.Loop() {
		AffineSwish(y, x, 1.1, 0.2)
	}
}
