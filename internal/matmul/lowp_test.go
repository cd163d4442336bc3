package matmul

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tessella-ml/tessella/weights"
)

// TestF16RoundTrip: every binary16 converts to float32 and back unchanged
// (NaNs stay NaN), and every midpoint between two adjacent binary16 values
// rounds to the even one, while a float32 ulp either side rounds to the
// nearer one.
func TestF16RoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := f16ToF32(uint16(h))
		back := f32ToF16(f)
		if math.IsNaN(float64(f)) {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x → %#04x is not a NaN", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x → %g → %#04x", h, f, back)
		}
	}
	for h := uint16(0); h < 0x7bff; h++ { // positive finite pairs
		lo, hi := f16ToF32(h), f16ToF32(h+1)
		mid := float32((float64(lo) + float64(hi)) / 2) // exact: 12 significant bits
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		if got := f32ToF16(mid); got != even {
			t.Fatalf("midpoint %g of %#04x,%#04x → %#04x, want %#04x", mid, h, h+1, got, even)
		}
		if got := f32ToF16(-mid); got != even|0x8000 {
			t.Fatalf("midpoint %g → %#04x, want %#04x", -mid, got, even|0x8000)
		}
		below := math.Nextafter32(mid, 0)
		above := math.Nextafter32(mid, float32(math.Inf(1)))
		if got := f32ToF16(below); got != h {
			t.Fatalf("%g (just below a midpoint) → %#04x, want %#04x", below, got, h)
		}
		if got := f32ToF16(above); got != h+1 {
			t.Fatalf("%g (just above a midpoint) → %#04x, want %#04x", above, got, h+1)
		}
	}
	// 65504 is the largest binary16; from the midpoint 65520 up it is Inf.
	if got := f32ToF16(math.Nextafter32(65520, 0)); got != 0x7bff {
		t.Errorf("just below 65520 → %#04x, want 0x7bff", got)
	}
	if got := f32ToF16(65520); got != 0x7c00 {
		t.Errorf("65520 → %#04x, want +Inf", got)
	}
	if got := f32ToF16(1e10); got != 0x7c00 {
		t.Errorf("1e10 → %#04x, want +Inf", got)
	}
	if got := f32ToF16(1e-10); got != 0 {
		t.Errorf("1e-10 → %#04x, want 0", got)
	}
}

// TestBF16Rounding: bfloat16 rounding is to nearest, ties to even, checked
// against float64 arithmetic on random and edge values.
func TestBF16Rounding(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200000; i++ {
		b := r.Uint32()
		if i%5 == 0 {
			b = b&^0xffff | 0x8000 // a tie
		}
		f := math.Float32frombits(b)
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		h := f32ToBF16(f)
		got := bf16ToF32(h)
		lo := math.Float32frombits(b &^ 0xffff)
		hi := math.Float32frombits(b&^0xffff + 0x10000)
		dl := math.Abs(float64(f) - float64(lo))
		hiv := float64(hi)
		if math.IsInf(hiv, 0) { // rounding up past the largest finite value
			hiv = math.Copysign(0x1p128, hiv)
		}
		dh := math.Abs(float64(f) - hiv)
		want := lo
		if dh < dl || (dh == dl && (b>>16)&1 == 1) {
			want = hi
		}
		if got != want && !(math.IsInf(float64(got), 0) && math.IsInf(float64(want), 0)) {
			t.Fatalf("%g (%#08x) → %g, want %g", f, b, got, want)
		}
	}
	if h := f32ToBF16(float32(math.NaN())); !math.IsNaN(float64(bf16ToF32(h))) {
		t.Errorf("NaN → %#04x", h)
	}
}

// q8Matrix returns an n×k matrix whose rows have very different magnitudes
// (so that some groups get binary16-subnormal scales), some zero groups and
// exact ties of x/d.
func q8Matrix(r *rand.Rand, n, k int) []float32 {
	w := make([]float32, n*k)
	for j := 0; j < n; j++ {
		mag := math.Pow(10, float64(r.IntN(12))-8)
		for p := 0; p < k; p++ {
			w[j*k+p] = float32(r.NormFloat64() * mag)
		}
		if j%7 == 3 {
			clear(w[j*k : j*k+min(k, 40)])
		}
	}
	return w
}

// TestQ8MatchesFileFormat: NewLinearQ8 gives exactly the codes and scales
// of weights.QuantizeQ8 (the q8 file format, written independently), its
// Weight() is float32(q)·d, and quantising that again is lossless.
func TestQ8MatchesFileFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][2]int{{1, 1}, {3, 31}, {5, 32}, {7, 33}, {9, 100}, {16, 256}, {6, 1000}} {
		n, k := s[0], s[1]
		w := q8Matrix(r, n, k)
		q, scales, err := weights.QuantizeQ8(w, []int{n, k})
		if err != nil {
			t.Fatal(err)
		}
		e, _ := NewEngine(Gonum, 1)
		l := e.NewLinearDType(Q8, w, n, k)
		ng := (k + 31) / 32
		for j := 0; j < n; j++ {
			for c := 0; c < ng; c++ {
				ci, si := l.lp.q8At(j, c)
				wantD := f16ToF32(scales[j*ng+c])
				if got := l.lp.s[si]; got != wantD {
					t.Fatalf("%d×%d row %d group %d: scale %g, file format %g", n, k, j, c, got, wantD)
				}
				for o := 0; o < min(32, k-32*c); o++ {
					if got, want := l.lp.q[ci+o*q8Rows], q[j*k+32*c+o]; got != want {
						t.Fatalf("%d×%d W[%d,%d]: code %d, file format %d", n, k, j, 32*c+o, got, want)
					}
				}
			}
		}
		deq := l.Weight()
		for j := 0; j < n; j++ {
			for p := 0; p < k; p++ {
				want := float32(q[j*k+p]) * f16ToF32(scales[j*ng+p/32])
				if deq[j*k+p] != want {
					t.Fatalf("Weight()[%d,%d] = %g, want %g", j, p, deq[j*k+p], want)
				}
			}
		}
		again := e.NewLinearDType(Q8, deq, n, k).Weight()
		for i := range again {
			if again[i] != deq[i] {
				t.Fatalf("%d×%d: requantising the dequantised weight changed element %d: %g → %g", n, k, i, deq[i], again[i])
			}
		}
	}
	// Non-finite input: that group's outputs are NaN, others unaffected.
	w := make([]float32, 64)
	for i := range w {
		w[i] = float32(i)
	}
	w[5] = float32(math.Inf(1))
	l := NewLinearQ8(w, 1, 64)
	deq := l.Weight()
	if !math.IsNaN(float64(deq[0])) || math.IsNaN(float64(deq[40])) {
		t.Errorf("Inf in group 0: dequantised %g (want NaN), group 1 %g (want finite)", deq[0], deq[40])
	}
}

// quantErr returns the bound on |ŵ − w| for one element stated in the
// constructors' docs (scale is the element's Q8 group scale).
func quantErr(dt DType, w, scale float32) float64 {
	a := math.Abs(float64(w))
	switch dt {
	case F16:
		return max(a*0x1p-11, 0x1p-25)
	case BF16:
		return max(a*0x1p-8, 0x1p-134)
	case Q8:
		return float64(scale)/2 + a*0x1p-24
	}
	return 0
}

// lowpEngines: every available tier with 1 and 2 threads; the AVX-512
// tier also with the small path off (the dequantise-to-float32 path).
func lowpEngines(t testing.TB) []*Engine {
	var es []*Engine
	for _, tr := range []Tier{Gonum, AVX2, AVX512} {
		if !Available(tr) {
			continue
		}
		for _, th := range []int{1, 2} {
			e, err := NewEngine(tr, th)
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, e)
			if tr == AVX512 {
				ns := *e
				ns.noSmall = true
				es = append(es, &ns)
			}
		}
	}
	return es
}

// checkLowp runs y = x·Ŵᵀ on e in precision dt with x and y inside guard
// buffers and checks it against float64 references on Ŵ = Weight() and
// on the original w; it returns the first failure.
func checkLowp(r *rand.Rand, e *Engine, dt DType, m, n, k int) error {
	w := q8Matrix(r, n, k)
	for i := range w { // mostly unit-scale weights, a few tiny rows
		if r.IntN(4) != 0 {
			w[i] = float32(r.NormFloat64())
		}
	}
	l := e.NewLinearDType(dt, w, n, k)
	if l.DType() != dt || l.N != n || l.K != k {
		return fmt.Errorf("Linear reports %v (%d, %d)", l.DType(), l.N, l.K)
	}
	deq := l.Weight()
	// Per-element quantisation bound against the original weight.
	eps := make([]float64, n*k)
	for j := 0; j < n; j++ {
		for p := 0; p < k; p++ {
			var d float32
			if dt == Q8 {
				_, si := l.lp.q8At(j, p/32)
				d = l.lp.s[si]
			}
			eps[j*k+p] = quantErr(dt, w[j*k+p], d)
			if diff := math.Abs(float64(deq[j*k+p]) - float64(w[j*k+p])); diff > eps[j*k+p] {
				return fmt.Errorf("W[%d,%d] = %g stored as %g: error %.3g > bound %.3g", j, p, w[j*k+p], deq[j*k+p], diff, eps[j*k+p])
			}
		}
	}
	x := newGuarded(r, m, k, k, float32(math.NaN()))
	const sentinel = -12345.5
	yb := make([]float32, m*n+2*guard)
	for i := range yb {
		yb[i] = sentinel
	}
	y := yb[guard : guard+m*n : guard+m*n]
	l.Forward(y, x.data(), m)
	for i := range yb {
		if (i < guard || i >= guard+m*n) && yb[i] != sentinel {
			return fmt.Errorf("wrote outside y at %d", i-guard)
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var ref, refW, abs, qerr float64
			for p := 0; p < k; p++ {
				xv := float64(x.at(i, p))
				ref += xv * float64(deq[j*k+p])
				refW += xv * float64(w[j*k+p])
				abs += math.Abs(xv * float64(deq[j*k+p]))
				qerr += math.Abs(xv) * eps[j*k+p]
			}
			got := float64(y[i*n+j])
			tol := float64(k+4) * 0x1p-23 * abs
			if math.IsNaN(got) || math.Abs(got-ref) > tol {
				return fmt.Errorf("y[%d,%d] = %g, want %g on the dequantised weight (tolerance %.3g)", i, j, got, ref, tol)
			}
			if math.Abs(got-refW) > tol+qerr {
				return fmt.Errorf("y[%d,%d] = %g, want %g on the float32 weight ± %.3g (quantisation) + %.3g", i, j, got, refW, qerr, tol)
			}
		}
	}
	return nil
}

// TestLinearDType: every tier × threads × dtype on shapes with tails in N
// (not a multiple of 4) and K (not a multiple of 32 or 16), M = 1…9 and
// beyond the small path, against float64 references.
func TestLinearDType(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	shapes := [][2]int{{1, 1}, {3, 5}, {4, 32}, {5, 33}, {7, 31}, {8, 64}, {13, 100}, {37, 257}, {130, 70}}
	ms := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 17}
	for _, e := range lowpEngines(t) {
		for _, dt := range []DType{F16, BF16, Q8} {
			for _, s := range shapes {
				for _, m := range ms {
					if err := checkLowp(r, e, dt, m, s[0], s[1]); err != nil {
						t.Fatalf("%s %v M=%d N=%d K=%d: %v", engName(e), dt, m, s[0], s[1], err)
					}
				}
			}
			// Large enough for several goroutines and several float32 chunks.
			for _, m := range []int{1, 2, 3, 8, 12, 33} {
				if err := checkLowp(r, e, dt, m, 523, 1000); err != nil {
					t.Fatalf("%s %v M=%d N=523 K=1000: %v", engName(e), dt, m, err)
				}
			}
		}
	}
}

// TestLinearDTypeF32: NewLinearDType(F32) is NewLinear, and the byte
// counts are what the layouts say.
func TestLinearDTypeF32(t *testing.T) {
	w := make([]float32, 10*40)
	for i := range w {
		w[i] = float32(i%13) - 6
	}
	l := NewLinearDType(F32, w, 10, 40)
	if l.DType() != F32 || l.lp != nil {
		t.Fatalf("F32 Linear has dtype %v", l.DType())
	}
	// N = 10 → 3 blocks of 4 rows (Q8: 1 block of 64), K = 40 → 64 padded.
	for _, c := range []struct {
		dt   DType
		want int
	}{{F16, 12 * 64 * 2}, {BF16, 12 * 64 * 2}, {Q8, 64*64 + 64*2*4}} {
		if got := NewLinearDType(c.dt, w, 10, 40).WeightBytes(); got != c.want {
			t.Errorf("%v: WeightBytes %d, want %d", c.dt, got, c.want)
		}
	}
	for _, s := range []string{"f32", "f16", "bf16", "q8"} {
		dt, err := ParseDType(s)
		if err != nil || dt.String() != s {
			t.Errorf("ParseDType(%q) = %v, %v", s, dt, err)
		}
	}
	if _, err := ParseDType("q4"); err == nil {
		t.Error("ParseDType(q4) accepted")
	}
}

// FuzzLinearDType runs checkLowp on random shapes, dtypes and engines.
func FuzzLinearDType(f *testing.F) {
	f.Add(uint64(1), uint8(0), uint8(2), uint16(1), uint16(1))
	f.Add(uint64(2), uint8(1), uint8(3), uint16(5), uint16(33))
	f.Add(uint64(3), uint8(2), uint8(8), uint16(9), uint16(100))
	f.Add(uint64(4), uint8(5), uint8(1), uint16(64), uint16(31))
	f.Add(uint64(5), uint8(7), uint8(9), uint16(17), uint16(300))
	es := lowpEngines(f)
	f.Fuzz(func(t *testing.T, seed uint64, sel, m8 uint8, n16, k16 uint16) {
		m, n, k := int(m8)%12+1, int(n16)%90+1, int(k16)%400+1
		e := es[int(sel)%len(es)]
		dt := []DType{F16, BF16, Q8}[int(sel/16)%3]
		r := rand.New(rand.NewPCG(seed, 9))
		if err := checkLowp(r, e, dt, m, n, k); err != nil {
			t.Fatalf("%s %v M=%d N=%d K=%d: %v", engName(e), dt, m, n, k, err)
		}
	})
}
