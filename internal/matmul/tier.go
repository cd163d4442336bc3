package matmul

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// Tier names a matrix-multiply implementation.
type Tier int

const (
	// Gonum is gonum's blas32 (pure Go, SSE at best): always available.
	Gonum Tier = iota
	// AVX2 is the 6×16 ymm FMA micro-kernel with packing and blocking.
	AVX2
	// AVX512 is the 12×32 zmm FMA micro-kernel plus the 4×32 small-M kernel.
	AVX512
	// OpenBLAS is cblas_sgemm through cgo; only in builds with -tags
	// openblas (never chosen by Best: the oracle for tests and benchmarks).
	OpenBLAS
)

func (t Tier) String() string {
	switch t {
	case Gonum:
		return "gonum"
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	case OpenBLAS:
		return "openblas"
	}
	return fmt.Sprintf("tier(%d)", int(t))
}

// kernel computes C[mr×nr] += alpha·A·B over kc steps; see kernels_amd64.s.
type kernel func(kc int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, alpha float32)

// tierImpl describes one SIMD tier.
type tierImpl struct {
	tier   Tier
	mr, nr int    // register block of kern
	kern   kernel // mr×nr micro-kernel
	// kernPacked, when not nil, is kern for a packed A sliver (rs = 4,
	// ks = mr·4) and a packed B panel (bs = nr·4), which it may assume.
	kernPacked kernel
	smr        int    // rows of the small-M kernel (its width is nr)
	small      kernel // smr×nr kernel used when M ≤ smallM
	fma        func(n int)
	fmaFlop    int // FLOP per iteration of fma
}

var tiers = simdTiers()

func lookupTier(t Tier) *tierImpl {
	for _, ti := range tiers {
		if ti.tier == t {
			return ti
		}
	}
	return nil
}

// Available reports whether tier t can run in this build on this CPU.
func Available(t Tier) bool {
	return t == Gonum || lookupTier(t) != nil || (t == OpenBLAS && hasOpenBLAS)
}

// Best is the fastest available tier (AVX512, then AVX2, then Gonum). With
// the build tag purego (or on non-amd64) it is always Gonum.
func Best() Tier {
	if len(tiers) > 0 {
		return tiers[0].tier
	}
	return Gonum
}

// Engine is a tier plus a thread count. The zero value is not usable; use
// NewEngine. An Engine is safe for concurrent use.
type Engine struct {
	tier    Tier
	impl    *tierImpl // nil for Gonum
	threads int       // 0: runtime.GOMAXPROCS(0) at each call

	// Test and benchmark switches (set by matmul_test.go, lowp_test.go and panels_test.go): packA packs every
	// A sliver instead of reading full slivers in place; noSmall disables
	// the small-M path.
	packA, noSmall bool
}

// NewEngine returns an engine for tier t running on at most threads
// goroutines (0 = GOMAXPROCS at call time). It fails if t is not available.
func NewEngine(t Tier, threads int) (*Engine, error) {
	if !Available(t) {
		return nil, fmt.Errorf("matmul: tier %v not available on this CPU/build", t)
	}
	if threads < 0 {
		return nil, fmt.Errorf("matmul: negative thread count %d", threads)
	}
	return &Engine{tier: t, impl: lookupTier(t), threads: threads}, nil
}

// Tier returns the engine's tier.
func (e *Engine) Tier() Tier { return e.tier }

// Threads returns the number of goroutines a call may use.
func (e *Engine) Threads() int {
	if e.threads > 0 {
		return e.threads
	}
	if e == defaultEngine {
		if t := int(defaultThreads.Load()); t > 0 {
			return t
		}
	}
	return runtime.GOMAXPROCS(0)
}

var (
	defaultEngine  = &Engine{tier: Best(), impl: lookupTier(Best())}
	defaultThreads atomic.Int64
)

// Default is the engine behind the package-level Gemm and NewLinear: the
// Best tier, with the thread count set by SetThreads.
func Default() *Engine { return defaultEngine }

// SetThreads sets how many goroutines the package-level Gemm and Linear
// (made by NewLinear) may use; n ≤ 0 means GOMAXPROCS.
func SetThreads(n int) {
	if n < 0 {
		n = 0
	}
	defaultThreads.Store(int64(n))
}

// PeakGFLOPS runs the tier's register-only FMA loop (12 independent FMA
// chains) on `threads` goroutines for about d and returns the measured
// GFLOPS. It returns 0 for Gonum (no such loop).
func PeakGFLOPS(t Tier, threads int, d time.Duration) float64 {
	ti := lookupTier(t)
	if ti == nil || threads < 1 {
		return 0
	}
	const iters = 1 << 20
	// Calibrate on one thread.
	start := time.Now()
	ti.fma(iters)
	per := time.Since(start)
	reps := int(d / (per + 1))
	if reps < 1 {
		reps = 1
	}
	done := make(chan struct{}, threads)
	start = time.Now()
	for w := 0; w < threads; w++ {
		go func() {
			for r := 0; r < reps; r++ {
				ti.fma(iters)
			}
			done <- struct{}{}
		}()
	}
	for w := 0; w < threads; w++ {
		<-done
	}
	el := time.Since(start).Seconds()
	return float64(threads) * float64(reps) * float64(iters) * float64(ti.fmaFlop) / el / 1e9
}

// ReadBandwidth streams a fresh buffer of bytes bytes (rounded; use far
// more than the L3, e.g. 512 MB) with an AVX-512 read-only sum (scalar Go
// without AVX-512) on `threads` goroutines, each reading its own part, and
// returns the best GB/s of reps passes. It is the yardstick for the decode
// (M ≤ 8) shapes, which must stream every weight once.
func ReadBandwidth(bytes int, threads, reps int) float64 {
	if threads < 1 {
		threads = 1
	}
	n := max(bytes/4, 128*threads) &^ 127
	buf := make([]float32, n)
	for i := range buf {
		buf[i] = 1
	}
	per := (n / threads) &^ 127
	best := 0.0
	sums := make([]float32, threads)
	for r := 0; r < max(1, reps); r++ {
		done := make(chan struct{}, threads)
		start := time.Now()
		for w := 0; w < threads; w++ {
			go func() {
				sums[w] = readSum(buf[w*per : (w+1)*per])
				done <- struct{}{}
			}()
		}
		for w := 0; w < threads; w++ {
			<-done
		}
		best = max(best, float64(per*threads*4)/time.Since(start).Seconds()/1e9)
	}
	if sums[0] != float32(per) && per < 1<<24 { // exact for < 2^24 ones; guards the probe itself
		return 0
	}
	return best
}
