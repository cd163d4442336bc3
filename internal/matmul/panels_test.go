package matmul

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// toPanels writes the k×n matrix b (row stride ldb) in GemmPanels' format
// for panel width nr, with NaN-free zero padding.
func toPanels(b []float32, ldb, k, n, nr int) []float32 {
	np := (n + nr - 1) / nr
	p := make([]float32, np*k*nr)
	for jp := range np {
		for r := range k {
			for j := 0; j < nr && jp*nr+j < n; j++ {
				p[jp*k*nr+r*nr+j] = b[r*ldb+jp*nr+j]
			}
		}
	}
	return p
}

// checkPanels runs GemmPanels on one case against the float64 reference,
// checks that C's padding is untouched and, where the blocked path runs
// (m > smallM on a SIMD tier), that the result is bit for bit Gemm's on the
// same B.
func checkPanels(t testing.TB, e *Engine, r *rand.Rand, tc gemmCase) {
	nan := float32(math.NaN())
	a := newGuarded(r, tc.m, tc.k, max(1, tc.k+tc.padA), nan)
	b := newGuarded(r, tc.k, tc.n, max(1, tc.n+tc.padB), nan)
	const sentinel = 12345.5
	c := newGuarded(r, tc.m, tc.n, tc.n+tc.padC, sentinel)
	c2 := append([]float32(nil), c.buf...)
	want, scale := refGemm(false, false, tc.m, tc.n, tc.k, tc.alpha, a, b, tc.beta, c)
	panels := toPanels(b.data(), b.ld, tc.k, tc.n, e.PanelWidth())
	e.GemmPanels(tc.m, tc.n, tc.k, tc.alpha, a.data(), a.ld, panels, tc.beta, c.data(), c.ld)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			got := float64(c.at(i, j))
			if d := math.Abs(got - want[i*tc.n+j]); !(d <= tolerance(tc.k, scale[i*tc.n+j])) {
				t.Fatalf("%s %+v: C[%d,%d] = %g, want %g (diff %g)", engName(e), tc, i, j, got, want[i*tc.n+j], d)
			}
		}
	}
	for idx, v := range c.buf {
		rel := idx - c.off
		inside := rel >= 0 && rel < len(c.buf)-2*guard && rel%c.ld < tc.n
		if !inside && v != sentinel {
			t.Fatalf("%s %+v: C buffer[%d] (outside the matrix) changed to %g", engName(e), tc, idx, v)
		}
	}
	// The same product with A packed once by PackA: bit for bit.
	c3 := append([]float32(nil), c2...)
	pa := e.PackA(make([]float32, e.PackedASize(tc.m, tc.k)), a.data(), a.ld, tc.m, tc.k)
	e.GemmPackedA(pa, tc.n, tc.alpha, panels, tc.beta, c3[c.off:len(c3)-guard], c.ld)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			if x, y := c3[c.off+i*c.ld+j], c.at(i, j); math.Float32bits(x) != math.Float32bits(y) {
				t.Fatalf("%s %+v: C[%d,%d]: GemmPackedA %g, GemmPanels %g", engName(e), tc, i, j, x, y)
			}
		}
	}
	if e.impl != nil && (tc.m > smallM || e.noSmall) {
		e.Gemm(false, false, tc.m, tc.n, tc.k, tc.alpha, a.data(), a.ld, b.data(), b.ld, tc.beta, c2[c.off:len(c2)-guard], c.ld)
		if !slices.EqualFunc(c.buf, c2, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) {
			t.Fatalf("%s %+v: GemmPanels differs from Gemm on the same B", engName(e), tc)
		}
	}
}

func TestGemmPanels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	shapes := [][3]int{
		{1, 1, 1}, {3, 33, 5}, {4, 32, 16}, {8, 64, 40}, {9, 31, 3}, {12, 32, 1},
		{13, 65, 257}, {25, 33, 513}, {100, 7, 33}, {193, 70, 260}, {130, 530, 40},
		{128, 700, 300}, // A packed once per k block and shared by the tasks
		{133, 200, 530}, // several k blocks, a 1-row tail sliver (small kernel)
	}
	alphas := [][2]float32{{1, 0}, {1, 1}, {-1.5, 0.25}, {2, -1}, {0, 0.5}}
	for _, e := range engines(t) {
		for si, s := range shapes {
			ab := alphas[si%len(alphas)]
			checkPanels(t, e, r, gemmCase{false, false, s[0], s[1], s[2], si % 3, si % 2, si % 4, ab[0], ab[1]})
		}
	}
}

func TestGemmPanelsBadSizes(t *testing.T) {
	e, err := NewEngine(Best(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a B shorter than its panels did not panic")
		}
	}()
	nr := e.PanelWidth()
	e.GemmPanels(2, nr+1, 3, 1, make([]float32, 6), 3, make([]float32, 3*nr), 0, make([]float32, 2*(nr+1)), nr+1)
}

func FuzzGemmPanels(f *testing.F) {
	f.Add(uint8(3), uint8(33), uint8(17), uint8(0), uint8(0))
	f.Add(uint8(13), uint8(31), uint8(1), uint8(7), uint8(1))
	f.Add(uint8(30), uint8(80), uint8(255), uint8(2), uint8(3))
	es := engines(f)
	f.Fuzz(func(t *testing.T, m, n, k, pad, ab uint8) {
		alphas := [][2]float32{{1, 0}, {0.5, 1}, {-1.5, 0.25}, {2, -1}, {0, 0.5}}
		tc := gemmCase{
			m: int(m%40) + 1, n: int(n%100) + 1, k: int(k) + 1,
			padA: int(pad % 4), padB: int(pad / 4 % 4), padC: int(pad / 16 % 4),
			alpha: alphas[int(ab)%len(alphas)][0], beta: alphas[int(ab)%len(alphas)][1],
		}
		r := rand.New(rand.NewPCG(uint64(m)<<8|uint64(n), uint64(k)<<8|uint64(pad)))
		for _, e := range es {
			checkPanels(t, e, r, tc)
		}
	})
}
