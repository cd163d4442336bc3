package vqgan

import (
	"github.com/tessella-ml/tessella/internal/vec"
	"math"
	"math/rand/v2"
	"testing"
)

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
