package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The SIMD sums differ from the sequential loops only in the order of the
// float64 additions: within 1e-12 relative to Σ|terms|, at every length
// (tails of every size included).
func check(t *testing.T, x []float32) {
	t.Helper()
	var abs float64
	for _, v := range x {
		abs += math.Abs(float64(v))
	}
	if s, sp := Sum64(x), Sum64Plain(x); !(math.Abs(s-sp) <= 1e-12*(1+abs)) {
		t.Fatalf("n=%d: Sum64 %g, plain %g", len(x), s, sp)
	}
	mean := Sum64Plain(x) / float64(max(1, len(x)))
	if q, qp := SumSqDev64(x, mean), SumSqDev64Plain(x, mean); !(math.Abs(q-qp) <= 1e-12*(1+qp)) {
		t.Fatalf("n=%d: SumSqDev64 %g, plain %g", len(x), q, qp)
	}
}

func TestSums(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 70 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64()*3 + 5)
		}
		check(t, x)
	}
	if Sum64([]float32{1, 2, 3}) != 6 || SumSqDev64([]float32{1, 2, 3}, 2) != 2 {
		t.Fatal("wrong sums of 1, 2, 3")
	}
}

func TestMeanInvStd(t *testing.T) {
	mean, inv := MeanInvStd([]float32{1, 2, 3, 4}, 1e-5)
	if want := 1 / math.Sqrt(1.25+float64(float32(1e-5))); mean != 2.5 || inv != want {
		t.Fatalf("MeanInvStd(1, 2, 3, 4) = %g, %g; want 2.5, %g", mean, inv, want)
	}
}

func TestLogSumExp64(t *testing.T) {
	x := []float32{-1, 0.5, 3, 2}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v))
	}
	if top, logSum := LogSumExp64(x); top != 3 || math.Abs(top+logSum-math.Log(sum)) > 1e-15 {
		t.Fatalf("LogSumExp64(%v) = %g + %g, want 3 + …, sum %g", x, top, logSum, math.Log(sum))
	}
	if top, logSum := LogSumExp64([]float32{1, float32(math.NaN())}); !math.IsNaN(top + logSum) {
		t.Fatalf("LogSumExp64 with a NaN = %g + %g, want NaN", top, logSum)
	}
}

func FuzzSums(f *testing.F) {
	f.Add(float32(5), float32(3), 1024, uint64(1))
	f.Add(float32(-1e4), float32(1e-2), 13, uint64(2))
	f.Fuzz(func(t *testing.T, off, scale float32, n int, seed uint64) {
		if n < 0 || n > 8192 || !(math.Abs(float64(off)) < 1e6) || !(math.Abs(float64(scale)) < 1e6) {
			t.Skip()
		}
		r := rand.New(rand.NewPCG(seed, 3))
		x := make([]float32, n)
		for i := range x {
			x[i] = off + float32(r.NormFloat64())*scale
		}
		check(t, x)
	})
}
