package tile

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// refGemm is the float64 triple loop the micro-kernels are checked against.
func refGemm(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, beta []float32) []float64 {
	out := make([]float64, m*n)
	for r := range m {
		for j := range n {
			var s float64
			if beta != nil {
				s = float64(beta[r]) * float64(c[r*ldc+j])
			}
			for p := range k {
				s += float64(a[r*lda+p]) * float64(b[p*ldb+j])
			}
			out[r*n+j] = s
		}
	}
	return out
}

// TestGemm checks Gemm4, Gemm1 (assembly when available) and GemmGo against
// float64 within 1e-5·k (|entries| ≈ N(0,1), sums of k products).
func TestGemm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{1, 2, 3, 7, 64, 65, 128} {
		for _, withBeta := range []bool{false, true} {
			lda, ldb, ldc := k+3, 40, 37
			a := randSlice(r, 4*lda)
			b := randSlice(r, k*ldb)
			c := randSlice(r, 4*ldc)
			var beta []float32
			if withBeta {
				beta = []float32{0.5, 1, -2, 0.25}
			}
			want := refGemm(4, 32, k, a, lda, b, ldb, c, ldc, beta)
			want1 := refGemm(1, 32, k, a, lda, b, ldb, c, ldc, beta)
			tol := 1e-5 * float64(k+1)
			check := func(name string, got []float32, ld, m int, want []float64) {
				t.Helper()
				for i := range m {
					for j := range 32 {
						if d := math.Abs(float64(got[i*ld+j]) - want[i*32+j]); d > tol {
							t.Fatalf("%s k=%d beta=%v: C[%d,%d] = %g, want %g", name, k, withBeta, i, j, got[i*ld+j], want[i*32+j])
						}
					}
				}
			}
			c4 := append([]float32(nil), c...)
			Gemm4(k, a, lda, b, ldb, c4, ldc, beta)
			check("Gemm4", c4, ldc, 4, want)
			cg := append([]float32(nil), c...)
			GemmGo(4, 32, k, a, lda, b, ldb, cg, ldc, beta)
			check("GemmGo", cg, ldc, 4, want)
			c1 := append([]float32(nil), c...)
			var b1 []float32
			if beta != nil {
				b1 = beta[:1]
			}
			Gemm1(k, a, b, ldb, c1, b1)
			check("Gemm1", c1, ldc, 1, want1)
			// odd block shapes go through GemmGo only
			co := append([]float32(nil), c...)
			GemmGo(3, 29, k, a, lda, b, ldb, co, ldc, beta)
			wo := refGemm(3, 29, k, a, lda, b, ldb, c, ldc, beta)
			for i := range 3 {
				for j := range 29 {
					if d := math.Abs(float64(co[i*ldc+j]) - wo[i*29+j]); d > tol {
						t.Fatalf("GemmGo 3x29 k=%d: C[%d,%d] = %g, want %g", k, i, j, co[i*ldc+j], wo[i*29+j])
					}
				}
			}
		}
	}
}

// TestExp checks Exp and ExpSub (assembly path for 16-element chunks)
// against math.Exp: relative error ≤ 4e-7 for x ≥ −86, exactly 0 below.
func TestExp(t *testing.T) {
	var xs []float32
	for x := float32(-120); x <= 0; x += 0.0371 {
		xs = append(xs, x)
	}
	xs = append(xs, 0, -1e12, -2e12, float32(math.Inf(-1)), -87.3, -86, -85.99, -86.01, -103.9, 5, 30, 88)
	for len(xs)%16 != 3 {
		xs = append(xs, -0.5)
	}
	s := append([]float32(nil), xs...)
	sum := ExpSub(s, 0)
	var want float64
	for i, x := range xs {
		w := math.Exp(float64(x))
		if x < -86 {
			w = 0
		}
		want += w
		for name, got := range map[string]float32{"Exp": Exp(x), "ExpSub": s[i]} {
			if x < -86 {
				if got != 0 {
					t.Fatalf("%s(%g) = %g, want 0", name, x, got)
				}
				continue
			}
			if d := math.Abs(float64(got) - w); d > 4e-7*w {
				t.Fatalf("%s(%g) = %g, want %g (rel err %g)", name, x, got, w, d/w)
			}
		}
	}
	if math.Abs(float64(sum)-want) > 1e-5*want {
		t.Fatalf("ExpSub sum = %g, want %g", sum, want)
	}
}

func TestPeakAndRead(t *testing.T) {
	flops, sink := PeakFMA(1000)
	if flops <= 0 || math.IsNaN(float64(sink)) {
		t.Fatalf("PeakFMA: flops %g sink %g", flops, sink)
	}
	s := make([]float32, 1000)
	for i := range s {
		s[i] = float32(i % 7)
	}
	var want float32
	for _, v := range s {
		want += v
	}
	if got := ReadSum(s); got != want {
		t.Fatalf("ReadSum = %g, want %g", got, want)
	}
	if got := Max([]float32{1, 5, -2, 7, 3}); got != 7 {
		t.Fatalf("Max = %g", got)
	}
	if got := Dot([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, []float32{1, 1, 1, 1, 1, 1, 1, 1, 2}); got != 54 {
		t.Fatalf("Dot = %g", got)
	}
	y := []float32{1, 1, 1, 1, 1}
	Axpy(2, []float32{1, 2, 3, 4, 5}, y)
	if y[4] != 11 || y[0] != 3 {
		t.Fatalf("Axpy = %v", y)
	}
}

func TestScaleMax(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, n := range []int{0, 1, 5, 16, 17, 33, 64, 100} {
		s := randSlice(r, n)
		orig := append([]float32(nil), s...)
		got := ScaleMax(s, 0.5)
		want := float32(math.Inf(-1))
		for i, v := range orig {
			if s[i] != v*0.5 {
				t.Fatalf("n=%d: s[%d] = %g, want %g", n, i, s[i], v*0.5)
			}
			want = max(want, v*0.5)
		}
		if got != want {
			t.Fatalf("n=%d: ScaleMax = %g, want %g", n, got, want)
		}
		if m := Max(orig); n > 0 && m != want*2 {
			t.Fatalf("n=%d: Max = %g, want %g", n, m, want*2)
		}
	}
}

// BenchmarkPeakFMA reports the FMA loop's GFLOP/s (the benchmark's "peak").
func BenchmarkPeakFMA(b *testing.B) {
	var flops float64
	for b.Loop() {
		f, _ := PeakFMA(100000)
		flops += f
	}
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGemm4 reports the 4×32 micro-kernel's GFLOP/s at k = 64 with
// L1-resident operands.
func BenchmarkGemm4(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	a, bb, c := randSlice(r, 4*64), randSlice(r, 64*64), randSlice(r, 4*64)
	beta := []float32{1, 1, 1, 1}
	for b.Loop() {
		Gemm4(64, a, 64, bb, 64, c, 64, beta)
	}
	b.ReportMetric(2*4*32*64*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestGemmAT checks Gemm4AT and GemmGoAT against float64 (A transposed).
func TestGemmAT(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	for _, k := range []int{1, 2, 3, 64, 65} {
		lda, ldb, ldc := 9, 40, 37
		at := randSlice(r, k*lda) // A[r,p] = at[p*lda+r]
		a := make([]float32, 4*k) // row-major copy
		for p := range k {
			for i := range 4 {
				a[i*k+p] = at[p*lda+i]
			}
		}
		b := randSlice(r, k*ldb)
		c := randSlice(r, 4*ldc)
		for _, beta := range [][]float32{nil, {2, 0, 1, -1}} {
			want := refGemm(4, 32, k, a, k, b, ldb, c, ldc, beta)
			for name, f := range map[string]func(c []float32){
				"Gemm4AT":  func(c []float32) { Gemm4AT(k, at, lda, b, ldb, c, ldc, beta) },
				"GemmGoAT": func(c []float32) { GemmGoAT(4, 32, k, at, lda, b, ldb, c, ldc, beta) },
			} {
				got := append([]float32(nil), c...)
				f(got)
				for i := range 4 {
					for j := range 32 {
						if d := math.Abs(float64(got[i*ldc+j]) - want[i*32+j]); d > 1e-5*float64(k+1) {
							t.Fatalf("%s k=%d: C[%d,%d] = %g, want %g", name, k, i, j, got[i*ldc+j], want[i*32+j])
						}
					}
				}
			}
		}
	}
}

// TestSoftmaxCols checks the column-wise online-softmax update (assembly for
// 16-column groups, Go for the rest) against a float64 computation,
// relative error ≤ 1e-6, including a first block (m = −Inf) and columns
// whose max does not change.
func TestSoftmaxCols(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 1))
	const rows, cols, ld = 7, 37, 40
	s := randSlice(r, rows*ld)
	m := make([]float32, cols)
	l := make([]float32, cols)
	for c := range cols {
		m[c], l[c] = float32(math.Inf(-1)), 0
		if c%3 == 1 {
			m[c], l[c] = 5, 2 // max stays 5: alpha = 1
		}
		if c%3 == 2 {
			m[c], l[c] = -1, 3
		}
	}
	s0, m0, l0 := append([]float32(nil), s...), append([]float32(nil), m...), append([]float32(nil), l...)
	alpha := make([]float32, cols)
	SoftmaxCols(s, rows, ld, cols, m, l, alpha)
	for c := range cols {
		mx := float64(m0[c])
		for j := range rows {
			mx = math.Max(mx, float64(s0[j*ld+c]))
		}
		wa := math.Exp(float64(m0[c]) - mx)
		sum := 0.0
		for j := range rows {
			e := math.Exp(float64(s0[j*ld+c]) - mx)
			sum += e
			if d := math.Abs(float64(s[j*ld+c]) - e); d > 1e-6*max(e, 1e-30) {
				t.Fatalf("col %d row %d: p = %g, want %g", c, j, s[j*ld+c], e)
			}
		}
		wl := float64(l0[c])*wa + sum
		if float64(m[c]) != mx || math.Abs(float64(alpha[c])-wa) > 1e-6*wa || math.Abs(float64(l[c])-wl) > 1e-6*wl {
			t.Fatalf("col %d: m %g alpha %g l %g, want %g %g %g", c, m[c], alpha[c], l[c], mx, wa, wl)
		}
	}
	for j := range rows {
		for c := cols; c < ld; c++ {
			if s[j*ld+c] != s0[j*ld+c] {
				t.Fatalf("column %d (past cols) modified", c)
			}
		}
	}
}

// TestGemm8 checks the 8-row multi-panel kernels against float64.
func TestGemm8(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 2))
	for _, k := range []int{1, 2, 3, 64, 65} {
		for _, panels := range []int{1, 2, 3} {
			n := 32 * panels
			lda, ldb, ldc := k+3, n+8, n+5
			a := randSlice(r, 8*lda)
			at := make([]float32, k*11) // A[r,p] = at[p*11+r]
			for p := range k {
				for i := range 8 {
					at[p*11+i] = a[i*lda+p]
				}
			}
			b := randSlice(r, k*ldb)
			c := randSlice(r, 8*ldc)
			for _, beta := range [][]float32{nil, {2, 0, 1, -1, 0.5, 3, 1, 1}} {
				want := refGemm(8, n, k, a, lda, b, ldb, c, ldc, beta)
				for name, f := range map[string]func(c []float32){
					"Gemm8":   func(c []float32) { Gemm8(k, a, lda, b, ldb, c, ldc, beta, panels) },
					"Gemm8AT": func(c []float32) { Gemm8AT(k, at, 11, b, ldb, c, ldc, beta, panels) },
				} {
					got := append([]float32(nil), c...)
					f(got)
					for i := range 8 {
						for j := range ldc {
							if j >= n {
								if got[i*ldc+j] != c[i*ldc+j] {
									t.Fatalf("%s wrote C[%d,%d] past its %d columns", name, i, j, n)
								}
								continue
							}
							if d := math.Abs(float64(got[i*ldc+j]) - want[i*n+j]); d > 1e-5*float64(k+1) {
								t.Fatalf("%s k=%d panels=%d beta=%v: C[%d,%d] = %g, want %g", name, k, panels, beta != nil, i, j, got[i*ldc+j], want[i*n+j])
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkGemm8 reports the 8×64 (two panels) micro-kernel's GFLOP/s at k = 64.
func BenchmarkGemm8(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	a, bb, c := randSlice(r, 8*64), randSlice(r, 64*64), randSlice(r, 8*64)
	beta := []float32{1, 1, 1, 1, 1, 1, 1, 1}
	for b.Loop() {
		Gemm8(64, a, 64, bb, 64, c, 64, beta, 2)
	}
	b.ReportMetric(2*8*64*64*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func TestDots(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 9))
	for _, d := range []int{16, 48, 64, 128, 5} {
		const n, ldk = 13, 150
		q := randSlice(r, d)
		k := randSlice(r, n*ldk)
		out := make([]float32, n)
		Dots(q, k, ldk, out)
		for j := range n {
			var want float64
			for c := range d {
				want += float64(q[c]) * float64(k[j*ldk+c])
			}
			if math.Abs(float64(out[j])-want) > 1e-5*float64(d) {
				t.Fatalf("d=%d: out[%d] = %g, want %g", d, j, out[j], want)
			}
		}
	}
}

func TestScaleTo(t *testing.T) {
	src := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	dst := make([]float32, 11)
	ScaleTo(dst, src, 0.5)
	for i, v := range dst {
		if v != src[i]*0.5 {
			t.Fatalf("dst[%d] = %g", i, v)
		}
	}
}

func TestPV(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, d := range []int{64, 128, 80, 5} {
		for _, k := range []int{1, 2, 7, 64} {
			const ldv = 150
			p := randSlice(r, k)
			v := randSlice(r, k*ldv)
			o := randSlice(r, d) // overwritten
			PV(p, v, ldv, o)
			for c := range d {
				var want float64
				for j := range k {
					want += float64(p[j]) * float64(v[j*ldv+c])
				}
				if math.Abs(float64(o[c])-want) > 1e-5*float64(k) {
					t.Fatalf("d=%d k=%d: o[%d] = %g, want %g", d, k, c, o[c], want)
				}
			}
		}
	}
}

func TestPackT(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1, 3, 16, 21, 32, 35} {
		for _, d := range []int{1, 7, 64} {
			const lds, ldd = 70, 40
			src := randSlice(r, n*lds)
			dst := randSlice(r, d*ldd)
			orig := append([]float32(nil), dst...)
			PackT(dst, ldd, src, lds, n, d, 0.5)
			for c := range d {
				for i := range ldd {
					want := orig[c*ldd+i]
					if i < n {
						want = src[i*lds+c] * 0.5
					}
					if dst[c*ldd+i] != want {
						t.Fatalf("n=%d d=%d: dst[%d,%d] = %g, want %g", n, d, c, i, dst[c*ldd+i], want)
					}
				}
			}
		}
	}
	src := randSlice(r, 37)
	dst := make([]float32, 37)
	ScaleTo(dst, src, 3)
	for i := range dst {
		if dst[i] != src[i]*3 {
			t.Fatalf("ScaleTo: dst[%d] = %g, want %g", i, dst[i], src[i]*3)
		}
	}
}
