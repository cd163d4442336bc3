package weights

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// A hand-computed group: max|x| = 127 gives d = 1 exactly, so q = round(x)
// with halves away from zero; the second row is all zeros (d = 0, q = 0).
func TestQuantizeQ8Example(t *testing.T) {
	x := make([]float32, 64)
	copy(x, []float32{127, -63.5, 0, 1, 2.5, -0.49})
	q, sc, err := QuantizeQ8(x, []int{2, 32})
	if err != nil {
		t.Fatal(err)
	}
	wantQ := []int8{127, -64, 0, 1, 3, 0}
	for i, w := range wantQ {
		if q[i] != w {
			t.Errorf("q[%d] = %d, want %d", i, q[i], w)
		}
	}
	if f16ToF32(sc[0]) != 1 || sc[1] != 0 {
		t.Errorf("scales %#x %#x, want 1.0 (0x3c00) and 0", sc[0], sc[1])
	}
	for i := 32; i < 64; i++ {
		if q[i] != 0 {
			t.Fatalf("zero row: q[%d] = %d", i, q[i])
		}
	}
}

// For random rows of several widths (K a multiple of 32, with a short last
// group, and below 32) and magnitudes: every scale is fp16(max|x|/127) of
// its group, the smallest binary16 d with 127·d ≥ max|x|, every code lies
// in [−127, 127] with 127 reached in each group whose scale is a normal
// binary16, and |x − q·d| ≤ d/2.
func TestQuantizeQ8Bounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{1, 5, 32, 33, 64, 70, 100} {
		for _, mag := range []float64{1e-9, 1e-6, 1e-3, 0.02, 1, 3000} {
			rows := 3
			x := make([]float32, rows*k)
			for i := range x {
				x[i] = float32(r.NormFloat64() * mag)
			}
			q, sc, err := QuantizeQ8(x, []int{rows, k})
			if err != nil {
				t.Fatal(err)
			}
			ng := (k + 31) / 32
			if len(sc) != rows*ng {
				t.Fatalf("k=%d: %d scales, want %d", k, len(sc), rows*ng)
			}
			for row := range rows {
				for g := range ng {
					lo, hi := g*32, min(g*32+32, k)
					var amax float32
					for j := lo; j < hi; j++ {
						amax = max(amax, float32(math.Abs(float64(x[row*k+j]))))
					}
					d := f16ToF32(sc[row*ng+g])
					below := f16ToF32(sc[row*ng+g] - 1) // the binary16 just under d
					if float64(d)*127 < float64(amax) || (d > 0 && float64(below)*127 >= float64(amax)) {
						t.Fatalf("k=%d row %d group %d: scale %g is not the smallest fp16 ≥ %g/127", k, row, g, d, amax)
					}
					top := 0
					for j := lo; j < hi; j++ {
						c := int(q[row*k+j])
						top = max(top, c, -c)
						if c < -127 || c > 127 {
							t.Fatalf("code %d out of range", c)
						}
						if e := math.Abs(float64(x[row*k+j]) - float64(c)*float64(d)); e > float64(d)/2*(1+1e-6) {
							t.Fatalf("k=%d mag=%g: |x − q·d| = %g > d/2 = %g", k, mag, e, d/2)
						}
					}
					if d >= 1.0/(1<<14) && top != 127 { // normal scales: |x/d| ≥ 127/(1+2⁻¹⁰)
						t.Fatalf("k=%d row %d group %d: largest |code| %d, want 127", k, row, g, top)
					}
				}
			}
		}
	}
}

func TestQuantizeQ8Errors(t *testing.T) {
	for name, c := range map[string]struct {
		x     []float32
		shape []int
	}{
		"nan":      {[]float32{1, float32(math.NaN())}, []int{1, 2}},
		"inf":      {[]float32{float32(math.Inf(-1)), 1}, []int{2, 1}},
		"overflow": {[]float32{1e7, 1}, []int{1, 2}},
		"scalar":   {[]float32{1}, nil},
		"mismatch": {[]float32{1, 2, 3}, []int{2, 2}},
	} {
		if _, _, err := QuantizeQ8(c.x, c.shape); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The error for a value that is not finite names its own row and column,
// not the first column of its group.
func TestQuantizeQ8NonFiniteNamesItsColumn(t *testing.T) {
	x := make([]float32, 2*40)
	x[40+33] = float32(math.NaN()) // row 1, column 33: group 1, which starts at column 32
	_, _, err := QuantizeQ8(x, []int{2, 40})
	if err == nil || !strings.Contains(err.Error(), "at row 1, column 33 ") {
		t.Fatalf("err = %v, want one naming row 1, column 33", err)
	}
}

// writeQ8 writes a q8 pair by hand (codes, F16 or F32 scales, a group
// size in the metadata) and opens it.
func writeQ8(t *testing.T, q []int8, qshape []int, scales []float32, sdt DType, sshape []int, meta map[string]string) (*File, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "q.safetensors")
	ts := []NamedTensor{
		{Name: "w", DType: I8, Shape: qshape, Raw: int8Bytes(q)},
		{Name: "w" + Q8ScaleSuffix, DType: sdt, Shape: sshape, Data: scales},
	}
	if err := WriteSafetensors(p, ts, meta); err != nil {
		t.Fatal(err)
	}
	return Open(p)
}

// A pair written by hand with another group size (4) and F32 scales reads
// back as q·d through File.Float32 and as its raw parts through File.Q8.
func TestQ8ReadGroupAndF32Scales(t *testing.T) {
	q := []int8{1, 2, 3, 4, 5, -1, -2, -128, 10, 20}
	f, err := writeQ8(t, q, []int{2, 5}, []float32{0.5, 2, 0.25, 4}, F32, []int{2, 2}, map[string]string{q8MetaGroup: "4"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, shape, err := f.Float32("w")
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.5, 1, 1.5, 2, 10, -0.25, -0.5, -32, 2.5, 80}
	if !equalInts(shape, []int{2, 5}) {
		t.Errorf("shape %v", shape)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Float32 = %v, want %v", got, want)
		}
	}
	tq, _ := f.Tensor("w")
	if !tq.IsQ8() {
		t.Error("IsQ8 false")
	}
	codes, scales, group, qs, ok := f.Q8("w")
	if !ok || group != 4 || len(codes) != 10 || codes[7] != -128 || scales[3] != 4 || !equalInts(qs, []int{2, 5}) {
		t.Errorf("Q8 = %v %v %d %v %v", codes, scales, group, qs, ok)
	}
	if _, _, _, _, ok := f.Q8("w" + Q8ScaleSuffix); ok {
		t.Error("Q8 of the scale tensor: ok")
	}
}

// Malformed pairs are refused when the file is opened.
func TestQ8FormatErrors(t *testing.T) {
	q := make([]int8, 64)
	cases := map[string]func() (*File, error){
		"scale shape": func() (*File, error) {
			return writeQ8(t, q, []int{2, 32}, []float32{1, 1, 1}, F16, []int{3}, nil)
		},
		"scale dtype": func() (*File, error) {
			p := filepath.Join(t.TempDir(), "x.safetensors")
			WriteSafetensors(p, []NamedTensor{{Name: "w", DType: I8, Shape: []int{2, 32}, Raw: int8Bytes(q)},
				{Name: "w.q8_scale", DType: I32, Shape: []int{2, 1}, Raw: make([]byte, 8)}}, nil)
			return Open(p)
		},
		"not int8": func() (*File, error) {
			p := filepath.Join(t.TempDir(), "x.safetensors")
			WriteSafetensors(p, []NamedTensor{{Name: "w", Shape: []int{2, 32}, Data: make([]float32, 64)},
				{Name: "w.q8_scale", Shape: []int{2, 1}, Data: []float32{1, 1}}}, nil)
			return Open(p)
		},
		"orphan": func() (*File, error) {
			p := filepath.Join(t.TempDir(), "x.safetensors")
			WriteSafetensors(p, []NamedTensor{{Name: "w.q8_scale", Shape: []int{2, 1}, Data: []float32{1, 1}}}, nil)
			return Open(p)
		},
		"group": func() (*File, error) {
			return writeQ8(t, q, []int{2, 32}, []float32{1, 1}, F16, []int{2, 1}, map[string]string{q8MetaGroup: "zero"})
		},
	}
	for name, open := range cases {
		f, err := open()
		if err == nil {
			f.Close()
			t.Errorf("%s: opened", name)
			continue
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v does not wrap ErrFormat", name, err)
		}
	}
}

// QuantizeQ8 never panics, refuses exactly the non-finite and overflowing
// inputs, and otherwise keeps every value within d/2 of q·d.
func FuzzQuantizeQ8(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 192}, uint8(2))
	f.Add(bytes32(1e-30, -3, 7e6, 0, 1, 2, 3, 4, 5), uint8(3))
	f.Add(bytes32(float32(math.Inf(1)), 1), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, kb uint8) {
		n := len(raw) / 4
		k := int(kb)%70 + 1
		if n == 0 || n%k != 0 {
			return
		}
		x := make([]float32, n)
		bad := false
		for i := range x {
			x[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
			a := math.Abs(float64(x[i]))
			bad = bad || math.IsNaN(a) || math.IsInf(a, 0) || a > 65504*127
		}
		q, sc, err := QuantizeQ8(x, []int{n / k, k})
		if bad != (err != nil) {
			t.Fatalf("non-finite or > 65504·127: %v; error: %v", bad, err)
		}
		if bad {
			return
		}
		ng := (k + 31) / 32
		for i, v := range x {
			d := float64(f16ToF32(sc[i/k*ng+(i%k)/32]))
			if e := math.Abs(float64(v) - float64(q[i])*d); e > d/2*(1+1e-9) {
				t.Fatalf("x=%g q=%d d=%g: error %g > d/2", v, q[i], d, e)
			}
		}
	})
}

func bytes32(v ...float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		u := math.Float32bits(x)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}
