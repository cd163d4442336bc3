package matmul

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// engines returns every available tier, each with the variants of the
// driver that the tests must cover (threads, packA, noSmall).
func engines(t testing.TB) []*Engine {
	var es []*Engine
	for _, tr := range []Tier{Gonum, AVX2, AVX512, OpenBLAS} {
		if !Available(tr) {
			t.Logf("tier %v not available here: skipped", tr)
			continue
		}
		for _, th := range []int{1, 3} {
			e, err := NewEngine(tr, th)
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, e)
			if tr == Gonum || tr == OpenBLAS {
				continue
			}
			pa := *e
			pa.packA = true
			ns := *e
			ns.noSmall = true
			es = append(es, &pa, &ns)
		}
	}
	return es
}

func engName(e *Engine) string {
	return fmt.Sprintf("%v/t%d/packA=%v/noSmall=%v", e.tier, e.threads, e.packA, e.noSmall)
}

// guarded is a matrix inside a NaN-filled buffer: data is the exact-length
// slice handed to Gemm ((rows−1)·ld + cols), buf the whole allocation.
type guarded struct {
	buf        []float32
	off        int
	rows, cols int
	ld         int
}

const guard = 37 // floats of guard before and after each matrix

func newGuarded(r *rand.Rand, rows, cols, ld int, fill float32) *guarded {
	need := 0
	if rows > 0 && cols > 0 {
		need = (rows-1)*ld + cols
	}
	g := &guarded{buf: make([]float32, need+2*guard), off: guard, rows: rows, cols: cols, ld: ld}
	for i := range g.buf {
		g.buf[i] = fill
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			g.buf[guard+i*ld+j] = float32(r.NormFloat64())
		}
	}
	return g
}

func (g *guarded) data() []float32 { return g.buf[g.off : len(g.buf)-guard : len(g.buf)-guard] }
func (g *guarded) at(i, j int) float32 {
	return g.buf[g.off+i*g.ld+j]
}

// refGemm is the plain triple loop in float64; it also returns, per
// element, the scale |alpha|·Σ|a||b| + |beta|·|c| for the tolerance.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a *guarded, b *guarded, beta float32, c *guarded) (want, scale []float64) {
	want = make([]float64, m*n)
	scale = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if transA {
					av = float64(a.at(p, i))
				} else {
					av = float64(a.at(i, p))
				}
				if transB {
					bv = float64(b.at(j, p))
				} else {
					bv = float64(b.at(p, j))
				}
				s += av * bv
				sa += math.Abs(av * bv)
			}
			c0 := float64(c.at(i, j))
			w := float64(alpha) * s
			sc := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				w += float64(beta) * c0
				sc += math.Abs(float64(beta) * c0)
			}
			want[i*n+j] = w
			scale[i*n+j] = sc
		}
	}
	return want, scale
}

// tolerance for an element whose terms sum to scale in absolute value:
// float32 accumulation over k FMAs plus alpha/beta, (k+4)·2⁻²³·scale.
func tolerance(k int, scale float64) float64 {
	return float64(k+4)*math.Ldexp(1, -23)*scale + 1e-30
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int // lda − cols, ldb − cols
	padC           int
	alpha, beta    float32
}

// check runs one case on engine e and reports mismatches, guard damage and
// NaNs picked up from padding.
func check(t testing.TB, e *Engine, r *rand.Rand, tc gemmCase) {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	nan := float32(math.NaN())
	a := newGuarded(r, ar, ac, max(1, ac+tc.padA), nan) // BLAS: ld ≥ max(1, cols)
	b := newGuarded(r, br, bc, max(1, bc+tc.padB), nan)
	const sentinel = 12345.5
	c := newGuarded(r, tc.m, tc.n, tc.n+tc.padC, sentinel)
	want, scale := refGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, b, tc.beta, c)
	if tc.beta == 0 { // beta = 0 must overwrite even NaN
		for i := 0; i < tc.m; i++ {
			for j := 0; j < tc.n; j++ {
				c.buf[c.off+i*c.ld+j] = nan
			}
		}
	}
	e.Gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a.data(), a.ld, b.data(), b.ld, tc.beta, c.data(), c.ld)
	bad := 0
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			got := float64(c.at(i, j))
			if d := math.Abs(got - want[i*tc.n+j]); !(d <= tolerance(tc.k, scale[i*tc.n+j])) {
				if bad < 3 {
					t.Errorf("%s %+v: C[%d,%d] = %g, want %g (diff %g, tol %g)", engName(e), tc, i, j, got, want[i*tc.n+j], d, tolerance(tc.k, scale[i*tc.n+j]))
				}
				bad++
			}
		}
	}
	// Everything in C's buffer outside the m×n elements must be untouched.
	for idx, v := range c.buf {
		rel := idx - c.off
		inside := rel >= 0 && rel < len(c.buf)-2*guard && rel%c.ld < tc.n
		if !inside && v != sentinel {
			t.Errorf("%s %+v: C buffer[%d] (outside the matrix) changed to %g", engName(e), tc, idx, v)
			return
		}
	}
}

func TestGemmAllTiers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{
		{1, 1, 1}, {1, 1, 7}, {2, 3, 1}, {3, 33, 5}, {4, 32, 16}, {5, 17, 9}, {8, 64, 40},
		{9, 31, 3}, {12, 32, 1}, {13, 65, 257}, {24, 96, 300}, {25, 33, 513}, {6, 16, 6},
		{7, 100, 130}, {100, 7, 33}, {193, 70, 260}, {200, 129, 20}, {37, 1, 50}, {1, 300, 600},
		{130, 530, 40}, // m ≥ 128 and ≥ 16 panels: A is packed automatically
	}
	alphas := [][2]float32{{1, 0}, {0.5, 1}, {-1.5, 0.25}, {2, -1}, {0, 0.5}}
	for _, e := range engines(t) {
		for si, s := range shapes {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					ab := alphas[(si+btoi(ta)+2*btoi(tb))%len(alphas)]
					pads := (si + btoi(ta)) % 3
					check(t, e, r, gemmCase{ta, tb, s[0], s[1], s[2], pads * 3, pads * 5, pads, ab[0], ab[1]})
				}
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestGemmLarge runs shapes that cross several KC and MC blocks and many
// panels, with a strided C, on every tier.
func TestGemmLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, e := range engines(t) {
		if e.packA || e.noSmall {
			continue // the small variants cover these switches
		}
		check(t, e, r, gemmCase{false, false, 397, 211, 600, 0, 3, 5, 1, 0})
		check(t, e, r, gemmCase{true, true, 250, 100, 530, 2, 0, 0, 0.5, 2})
		check(t, e, r, gemmCase{false, true, 8, 1000, 700, 1, 1, 0, 1, 0})
	}
}

func TestLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, e := range engines(t) {
		for _, s := range [][3]int{{1, 1, 1}, {2, 33, 17}, {4, 32, 64}, {5, 64, 1}, {8, 100, 300}, {9, 31, 257}, {30, 70, 260}, {40, 200, 600}} {
			m, n, k := s[0], s[1], s[2]
			w := make([]float32, n*k)
			for i := range w {
				w[i] = float32(r.NormFloat64())
			}
			wcopy := append([]float32(nil), w...)
			l := e.NewLinear(w, n, k)
			if got := l.Weight(); len(got) != n*k {
				t.Fatalf("%s: Weight() has %d elements, want %d", engName(e), len(got), n*k)
			} else {
				for i := range got {
					if got[i] != wcopy[i] {
						t.Fatalf("%s (%d,%d): Weight()[%d] = %g, want %g", engName(e), n, k, i, got[i], wcopy[i])
					}
				}
			}
			x := newGuarded(r, m, k, k, float32(math.NaN()))
			y := make([]float32, m*n)
			for i := range y {
				y[i] = float32(math.NaN())
			}
			l.Forward(y, x.data(), m)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s, sa float64
					for p := 0; p < k; p++ {
						v := float64(x.at(i, p)) * float64(wcopy[j*k+p])
						s += v
						sa += math.Abs(v)
					}
					if d := math.Abs(float64(y[i*n+j]) - s); !(d <= tolerance(k, sa)) {
						t.Fatalf("%s (m,n,k)=(%d,%d,%d): y[%d,%d] = %g, want %g", engName(e), m, n, k, i, j, y[i*n+j], s)
					}
				}
			}
		}
	}
}

// TestGemmBadSizes checks that inconsistent sizes are refused before any
// kernel runs.
func TestGemmBadSizes(t *testing.T) {
	for _, e := range engines(t) {
		for _, f := range []func(){
			func() {
				e.Gemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
			},
			func() {
				e.Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, make([]float32, 4), 2)
			},
			func() {
				e.Gemm(false, true, 2, 3, 2, 1, make([]float32, 4), 2, make([]float32, 5), 2, 0, make([]float32, 6), 3)
			},
			func() {
				e.Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
			},
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: bad sizes accepted", engName(e))
					}
				}()
				f()
			}()
		}
	}
}

func TestNewEngine(t *testing.T) {
	if _, err := NewEngine(Tier(99), 1); err == nil {
		t.Error("unknown tier accepted")
	}
	if _, err := NewEngine(Gonum, -1); err == nil {
		t.Error("negative threads accepted")
	}
	if !Available(Gonum) || !Available(Best()) {
		t.Errorf("Gonum or Best() = %v not available", Best())
	}
}

func FuzzGemm(f *testing.F) {
	f.Add(uint8(3), uint8(33), uint8(17), uint8(0), uint8(0), uint8(0))
	f.Add(uint8(13), uint8(31), uint8(1), uint8(3), uint8(7), uint8(1))
	f.Add(uint8(1), uint8(64), uint8(255), uint8(1), uint8(2), uint8(2))
	f.Add(uint8(25), uint8(5), uint8(40), uint8(2), uint8(0), uint8(3))
	f.Add(uint8(8), uint8(16), uint8(9), uint8(0), uint8(5), uint8(4))
	es := engines(f)
	f.Fuzz(func(t *testing.T, m, n, k, flags, pad, ab uint8) {
		alphas := [][2]float32{{1, 0}, {0.5, 1}, {-1.5, 0.25}, {2, -1}, {0, 0.5}}
		tc := gemmCase{
			transA: flags&1 != 0, transB: flags&2 != 0,
			m: int(m%40) + 1, n: int(n%80) + 1, k: int(k) + int(flags>>2)*5,
			padA: int(pad % 4), padB: int(pad / 4 % 4), padC: int(pad / 16 % 4),
			alpha: alphas[int(ab)%len(alphas)][0], beta: alphas[int(ab)%len(alphas)][1],
		}
		r := rand.New(rand.NewPCG(uint64(m)<<8|uint64(n), uint64(k)<<8|uint64(flags)))
		for _, e := range es {
			check(t, e, r, tc)
		}
	})
}

func TestReadSum(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 1000, 4096} {
		s := make([]float32, n)
		want := float32(0)
		for i := range s {
			s[i] = float32(i % 7)
			want += s[i]
		}
		if got := readSum(s); got != want { // small integers: exact in any order
			t.Errorf("readSum(n=%d) = %g, want %g", n, got, want)
		}
	}
	if bw := ReadBandwidth(1<<20, 2, 1); !(bw > 0) {
		t.Errorf("ReadBandwidth = %g", bw)
	}
}

func TestDefaultAndThreads(t *testing.T) {
	if Default().Tier() != Best() {
		t.Errorf("Default tier %v, Best %v", Default().Tier(), Best())
	}
	SetThreads(3)
	if got := Default().Threads(); got != 3 {
		t.Errorf("after SetThreads(3): Threads() = %d", got)
	}
	SetThreads(0)
	if got := Default().Threads(); got < 1 {
		t.Errorf("after SetThreads(0): Threads() = %d", got)
	}
	e, _ := NewEngine(Gonum, 5)
	if e.Threads() != 5 {
		t.Errorf("engine threads %d, want 5", e.Threads())
	}
	for _, tr := range []Tier{AVX2, AVX512} {
		if Available(tr) {
			if g := PeakGFLOPS(tr, 1, 5*time.Millisecond); !(g > 0) {
				t.Errorf("PeakGFLOPS(%v) = %g", tr, g)
			}
		}
	}
	if g := PeakGFLOPS(Gonum, 1, time.Millisecond); g != 0 {
		t.Errorf("PeakGFLOPS(Gonum) = %g, want 0", g)
	}
}

// TestLinearEmpty: K = 0 gives y = 0 (even over NaN); N = 0 or m = 0 is a no-op.
func TestLinearEmpty(t *testing.T) {
	for _, e := range engines(t) {
		y := []float32{float32(math.NaN()), float32(math.NaN())}
		e.NewLinear(nil, 2, 0).Forward(y, nil, 1)
		if y[0] != 0 || y[1] != 0 {
			t.Errorf("%s: K=0 gave %v, want zeros", engName(e), y)
		}
		e.NewLinear(nil, 0, 3).Forward(nil, []float32{1, 2, 3}, 1)
		e.NewLinear([]float32{1, 2}, 1, 2).Forward(nil, nil, 0)
	}
}

// TestScratchAllocations: recycling a scratch buffer allocates nothing
// once the pool is warm, and a decode-shaped Forward on one thread
// allocates at most once per call (the closure handed to the workers),
// whatever the dtype.
func TestScratchAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are random under the race detector (sync.Pool drops items)")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	putScratch(getScratch(1000))
	if a := testing.AllocsPerRun(20, func() { putScratch(getScratch(1000)) }); a != 0 {
		t.Errorf("getScratch + putScratch: %.0f allocations, want 0", a)
	}
	w := make([]float32, 96*160)
	for i := range w {
		w[i] = float32(i%7) - 3
	}
	x := make([]float32, 2*160)
	y := make([]float32, 2*96)
	for _, dt := range []DType{F32, F16, Q8} {
		l := NewLinearDType(dt, w, 96, 160)
		l.Forward(y, x, 2)
		if a := testing.AllocsPerRun(20, func() { l.Forward(y, x, 2) }); a > 1 {
			t.Errorf("%v: Forward (M = 2) allocates %.0f times per call, want ≤ 1", dt, a)
		}
	}
}
