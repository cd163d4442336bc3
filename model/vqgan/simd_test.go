package vqgan

import (
	"github.com/tessella-ml/tessella/internal/vec"
	"math"
	"math/rand/v2"
	"testing"
)

// swishUlps bounds the AVX-512 swish against the plain loop (float64
// sigmoid) in float32 ulps of the plain result, plus an absolute 1e-36 for
// results that underflow (y < −88.8, where the kernel returns −0). A
// float32 exp within ~2 ulp, the 1 + e rounding and one division measured
// ≤ 3 ulp on a dense sweep of [−100, 100]; 6 leaves margin, and a wrong
// constant or lane is off by far more.
const swishUlps = 6

// checkSwish compares affineSwish with affineSwishPlain on src and returns
// the largest difference in ulps.
func checkSwish(t *testing.T, src []float32, s, tt float32) float64 {
	t.Helper()
	got := make([]float32, len(src))
	want := make([]float32, len(src))
	affineSwish(got, src, s, tt)
	affineSwishPlain(want, src, s, tt)
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
	for n := range 41 {
		checkSwish(t, randSlice(r, n), 1.3, -0.2)
	}
	inf := float32(math.Inf(1))
	checkSwish(t, []float32{0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 1e30, -1e30, inf, -inf, float32(math.NaN())}, 1, 0)
	// In place.
	y := randSlice(r, 37)
	want := make([]float32, len(y))
	affineSwish(want, y, 2, 1)
	affineSwish(y, y, 2, 1)
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
		affineSwish(dst[:n], make([]float32, n+16)[:n], 1, 0)
		for i := n; i < len(dst); i++ {
			if dst[i] != 7 {
				t.Fatalf("n=%d: element %d overwritten", n, i)
			}
		}
	}
}

// statsTol: the SIMD sums differ from the sequential ones only in the order
// of float64 additions of float32 values: relative 1e-12 of Σ|terms|.
const statsTol = 1e-12

func checkStats(t *testing.T, x []float32) {
	t.Helper()
	var abs float64
	for _, v := range x {
		abs += math.Abs(float64(v))
	}
	s, sp := vec.Sum64(x), vec.Sum64Plain(x)
	if d := math.Abs(s - sp); !(d <= statsTol*(1+abs)) {
		t.Fatalf("n=%d: sum %g, plain %g", len(x), s, sp)
	}
	mean := sp / float64(max(1, len(x)))
	q, qp := vec.SumSqDev64(x, mean), vec.SumSqDev64Plain(x, mean)
	if d := math.Abs(q - qp); !(d <= statsTol*(1+qp)) {
		t.Fatalf("n=%d: Σ(x−mean)² %g, plain %g", len(x), q, qp)
	}
}

func TestGroupStatsFast(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := range 70 {
		x := randSlice(r, n)
		for i := range x {
			x[i] += 3 // a non-zero mean, so masked-off lanes would show
		}
		checkStats(t, x)
	}
	checkStats(t, randSlice(r, 100003))
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
		checkStats(t, x)
	})
}
