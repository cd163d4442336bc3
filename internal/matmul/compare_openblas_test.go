//go:build openblas

package matmul

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// TestCompareOpenBLAS interleaves the AVX-512 tier and OpenBLAS in one
// process (best of 5 calls each, 3 rounds, 1 thread) and logs the ratio:
// on a noisy machine this is steadier than the benchmark table. Run with
//
//	OPENBLAS_CORETYPE=SkylakeX TESSELLA_GEMM_COMPARE=1 go test -tags openblas ./internal/matmul -run CompareOpenBLAS -v
func TestCompareOpenBLAS(t *testing.T) {
	if os.Getenv("TESSELLA_GEMM_COMPARE") == "" || !Available(AVX512) {
		t.Skip("set TESSELLA_GEMM_COMPARE=1 (and have AVX-512) to run")
	}
	best := func(f func()) float64 {
		f()
		b := 1e9
		for i := 0; i < 5; i++ {
			st := time.Now()
			f()
			b = min(b, time.Since(st).Seconds())
		}
		return b
	}
	r := rand.New(rand.NewPCG(1, 1))
	t.Logf("OpenBLAS core %s", OpenBLASCore())
	for _, s := range benchShapes {
		m, n, k := s[0], s[1], s[2]
		if m*n*k > 1<<31 {
			continue // 65536×128×1152: too slow for a quick comparison
		}
		x, w, y := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
		e5, _ := NewEngine(AVX512, 1)
		eo, _ := NewEngine(OpenBLAS, 1)
		l5, lo := e5.NewLinear(w, n, k), eo.NewLinear(w, n, k)
		fl := 2 * float64(m*n*k) / 1e9
		for rep := 0; rep < 3; rep++ {
			t5 := best(func() { l5.Forward(y, x, m) })
			to := best(func() { lo.Forward(y, x, m) })
			t5n := best(func() { e5.Gemm(false, false, m, n, k, 1, x, k, w, n, 0, y, n) })
			ton := best(func() { eo.Gemm(false, false, m, n, k, 1, x, k, w, n, 0, y, n) })
			t.Logf("%v W(N,K): avx512 %.1f OpenBLAS %.1f GFLOPS, ratio %.2f | B(K,N): avx512 %.1f OpenBLAS %.1f, ratio %.2f",
				s, fl/t5, fl/to, to/t5, fl/t5n, fl/ton, ton/t5n)
		}
	}
}
