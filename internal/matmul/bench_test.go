package matmul

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are the model's GEMM shapes (M, N, K).
var benchShapes = [][3]int{
	{2, 1024, 1024}, {2, 2730, 1024}, {2, 16385, 1024}, {64, 1024, 1024},
	{128, 1024, 2730}, {4096, 128, 1152}, {65536, 128, 1152}, {1024, 1024, 1024},
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// BenchmarkLinear: y = x·Wᵀ with W (N, K) pre-packed (as the model runs).
// Reports GFLOPS (2·M·N·K per op). Threads = GOMAXPROCS (-cpu flag).
func BenchmarkLinear(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		m, n, k := s[0], s[1], s[2]
		x, w, y := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
		for _, tr := range []Tier{Gonum, AVX2, AVX512} {
			if !Available(tr) {
				continue
			}
			e, _ := NewEngine(tr, 0)
			l := e.NewLinear(w, n, k)
			b.Run(fmt.Sprintf("%dx%dx%d/%v", m, n, k, tr), func(b *testing.B) {
				for b.Loop() {
					l.Forward(y, x, m)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// BenchmarkGemmNN: C = A·B with B stored K×N (packed on every call).
func BenchmarkGemmNN(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range benchShapes {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		for _, tr := range []Tier{Gonum, AVX2, AVX512} {
			if !Available(tr) {
				continue
			}
			e, _ := NewEngine(tr, 0)
			b.Run(fmt.Sprintf("%dx%dx%d/%v", m, n, k, tr), func(b *testing.B) {
				for b.Loop() {
					e.Gemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// BenchmarkPackA packs one 192×256 block of a row-major A (the blocked
// path's MC × KC) into 12-row slivers.
func BenchmarkPackA(b *testing.B) {
	const m, k = 192, 256
	r := rand.New(rand.NewPCG(1, 3))
	a := randSlice(r, m*1024)
	dst := make([]float32, m*k)
	for b.Loop() {
		for i := 0; i < m; i += 12 {
			packA(dst[i*k:(i+12)*k], a, 1024, false, i, 12, 0, k, 12)
		}
	}
	b.SetBytes(4 * m * k)
}
