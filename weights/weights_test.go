package weights

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unsafe"
)

// source is model.Source, restated so that this test does not depend on
// package model building.
type source interface {
	Has(name string) bool
	Float32(name string) ([]float32, []int, error)
}

var (
	_ source = (*File)(nil)
	_ source = (*View)(nil)
)

func f32bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

// inside reports whether v's backing array lies within b.
func inside(v []float32, b []byte) bool {
	if len(v) == 0 || len(b) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(&v[0]))
	lo := uintptr(unsafe.Pointer(&b[0]))
	return p >= lo && p+4*uintptr(len(v)) <= lo+uintptr(len(b))
}

// TestGolden checks every tensor of both golden files against the float32
// bit patterns torch computed (tensor.float()), exactly, and the names and
// their order.
func TestGolden(t *testing.T) {
	exp := loadExpected(t)
	for _, path := range []string{goldenPT, goldenST} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			wantOrder := exp.Order
			if f.Format() == "safetensors" {
				wantOrder = slices.Sorted(slices.Values(exp.Order)) // st.py writes sorted names
			}
			if got := f.Names(); !slices.Equal(got, wantOrder) {
				t.Fatalf("names %v, want %v", got, wantOrder)
			}
			for name, want := range exp.Tensors {
				tn, ok := f.Tensor(name)
				if !ok {
					t.Fatalf("%s missing", name)
				}
				if string(tn.DType) != want.DType || !slices.Equal(tn.Shape, want.Shape) {
					t.Errorf("%s: %s%v, want %s%v", name, tn.DType, tn.Shape, want.DType, want.Shape)
				}
				data, shape, err := f.Float32(name)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(shape, want.Shape) || tn.NumElements() != len(want.F32Bits) {
					t.Errorf("%s: shape %v numel %d", name, shape, tn.NumElements())
				}
				if got := f32bits(data); !slices.Equal(got, want.F32Bits) {
					t.Errorf("%s: float32 bits\n got %x\nwant %x", name, got, want.F32Bits)
				}
			}
		})
	}
}

// TestPTMatchesSafetensors compares the raw contiguous bytes of every
// tensor of the two golden files, and checks which tensors the .pt reader
// sees as strided views.
func TestPTMatchesSafetensors(t *testing.T) {
	pt, err := OpenPT(goldenPT)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	st, err := OpenSafetensors(goldenST)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range pt.Names() {
		a, _ := pt.Tensor(name)
		b, ok := st.Tensor(name)
		if !ok {
			t.Fatalf("%s not in safetensors", name)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) || a.DType != b.DType {
			t.Errorf("%s: .pt and .safetensors bytes differ", name)
		}
		if len(a.Bytes()) != a.NumElements()*a.DType.Size() {
			t.Errorf("%s: %d bytes for %d elements", name, len(a.Bytes()), a.NumElements())
		}
	}
	strided := map[string]bool{"f32.transposed": true, "f16.transposed": true, "f32.cols": true, "shared.b": true}
	for _, name := range pt.Names() {
		tn, _ := pt.Tensor(name)
		if tn.Contiguous() == strided[name] {
			t.Errorf("%s: Contiguous() = %v", name, tn.Contiguous())
		}
	}
	if md := st.Metadata(); md["format"] != "pt" || md["source"] != "make_weights_testdata.py" || len(md) != 2 {
		t.Errorf("metadata %v", md)
	}
	if md := pt.Metadata(); len(md) != 0 {
		t.Errorf(".pt metadata %v", md)
	}
}

// TestZeroCopy checks that aligned contiguous F32 tensors alias the file's
// bytes and that everything else is a fresh copy.
func TestZeroCopy(t *testing.T) {
	pt, err := Open(goldenPT)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	for name, want := range map[string]bool{"f32.big": true, "linear.weight": true, "f32.rows": true, "shared.a": true,
		"f32.transposed": false, "f32.cols": false, "f16.matrix": false, "bf16.matrix": false} {
		v, _, err := pt.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := inside(v, pt.data); got != want {
			t.Errorf(".pt %s: zero-copy %v, want %v", name, got, want)
		}
	}
	// st.py packs without alignment: a view only when the offset allows.
	st, err := Open(goldenST)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range st.Names() {
		tn, _ := st.Tensor(name)
		if tn.DType != F32 || tn.NumElements() == 0 {
			continue
		}
		v, _ := tn.Float32()
		aligned := uintptr(unsafe.Pointer(&tn.data[0]))%4 == 0
		if got := inside(v, st.data); got != aligned {
			t.Errorf(".safetensors %s: zero-copy %v, aligned %v", name, got, aligned)
		}
	}
}

func TestReadFallbackAndOpenBytes(t *testing.T) {
	exp := loadExpected(t)
	for _, path := range []string{goldenPT, goldenST, goldenPT + " (read)", goldenST + " (read)"} {
		var f *File
		var err error
		if p, ok := strings.CutSuffix(path, " (read)"); ok {
			f, err = open(p, "", false)
			if err == nil && f.unmap != nil {
				t.Fatal("mapped")
			}
		} else {
			f, err = OpenBytes("mem:"+path, readFile(t, path))
		}
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range exp.Tensors {
			v, _, err := f.Float32(name)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f32bits(v), want.F32Bits) {
				t.Errorf("%s %s: values differ", path, name)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.Float32("linear.weight"); !errors.Is(err, ErrNotFound) {
			t.Errorf("after Close: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
}

// TestTensorAfterClose checks that a *Tensor kept past File.Close reports an
// error (or, for Bytes, nil) instead of reading unmapped memory: mapped,
// read and in-memory files, every dtype and layout of both golden files.
func TestTensorAfterClose(t *testing.T) {
	for _, path := range []string{goldenPT, goldenST, goldenPT + " (read)", goldenST + " (bytes)"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var f *File
			var err error
			if p, ok := strings.CutSuffix(path, " (read)"); ok {
				f, err = open(p, "", false)
			} else if p, ok := strings.CutSuffix(path, " (bytes)"); ok {
				f, err = OpenBytes(p, readFile(t, p))
			} else {
				f, err = Open(path)
			}
			if err != nil {
				t.Fatal(err)
			}
			var ts []*Tensor
			for _, name := range f.Names() {
				tn, _ := f.Tensor(name)
				ts = append(ts, tn)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			for _, tn := range ts {
				check := func(method string, err error) {
					t.Helper()
					if err == nil || !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), tn.Name) {
						t.Errorf("%s %s (%s) after Close: error %v, want one naming the tensor and wrapping ErrClosed", method, tn.Name, tn.DType, err)
					}
				}
				v, err := tn.Float32()
				check("Float32", err)
				if v != nil {
					t.Errorf("Float32 %s after Close returned %d values", tn.Name, len(v))
				}
				_, err = tn.Ints()
				check("Ints", err)
				_, err = tn.Dense()
				if err == nil {
					t.Errorf("Dense %s after Close: no error", tn.Name)
				}
				if b := tn.Bytes(); b != nil {
					t.Errorf("Bytes %s after Close returned %d bytes, want nil", tn.Name, len(b))
				}
			}
			if _, _, _, _, ok := f.Q8("linear.weight"); ok {
				t.Error("Q8 after Close: ok")
			}
		})
	}
}

func TestNotFoundAndSub(t *testing.T) {
	f, err := Open(goldenST)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _, err = f.Float32("no.such")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), goldenST) || !strings.Contains(err.Error(), "no.such") {
		t.Errorf("missing tensor: %v", err)
	}
	if f.Has("no.such") || !f.Has("linear.bias") {
		t.Error("Has")
	}
	v := f.Sub("linear.")
	if got := v.Names(); !slices.Equal(got, []string{"bias", "weight"}) {
		t.Errorf("Sub names %v", got)
	}
	a, sa, err := v.Float32("weight")
	if err != nil {
		t.Fatal(err)
	}
	b, sb, _ := f.Float32("linear.weight")
	if !slices.Equal(f32bits(a), f32bits(b)) || !slices.Equal(sa, sb) || !v.Has("bias") || v.Has("linear.bias") {
		t.Error("Sub view differs from the file")
	}
	if _, _, err := v.Float32("nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "linear.nope") {
		t.Errorf("Sub missing: %v", err)
	}
	if got := f.Sub("f").Sub("32.").Names(); !slices.Equal(got, []string{"big", "cols", "rows", "transposed"}) {
		t.Errorf("nested Sub names %v", got)
	}
}

func TestDense(t *testing.T) {
	f, err := Open(goldenPT)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tn, _ := f.Tensor("f32.big")
	d, err := tn.Dense()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := tn.Float32()
	if !slices.Equal(d.Shape(), []int{8, 32}) || &d.Float32s()[0] != &data[0] {
		t.Errorf("Dense shape %v, shares data %v", d.Shape(), &d.Float32s()[0] == &data[0])
	}
	if x, err := d.At(3, 7); err != nil || x.(float32) != data[3*32+7] {
		t.Errorf("Dense At(3,7) = %v, %v", x, err)
	}
	tn, _ = f.Tensor("f16.transposed")
	d, err = tn.Dense()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tn.Float32()
	if !slices.Equal(d.Shape(), []int{4, 3}) || !slices.Equal(d.Float32s(), want) {
		t.Errorf("Dense of a strided F16 view: %v", d.Float32s())
	}
	tn, _ = f.Tensor("scalar")
	d, err = tn.Dense()
	if err != nil || d.Data().(float32) != 2.5 {
		t.Errorf("scalar Dense: %v %v", d, err)
	}
	tn, _ = f.Tensor("empty")
	if _, err := tn.Dense(); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty Dense: %v", err)
	}
}

// TestF16Conversions checks the binary16 and bfloat16 conversions against
// torch's rounding and against each other over all 65536 patterns.
func TestF16Conversions(t *testing.T) {
	exp := loadExpected(t).Rounding
	for i, b := range exp.F32Bits {
		f := math.Float32frombits(b)
		if f != f { // torch's NaN patterns vary between code paths
			if f16ToF32(f32ToF16(f)) == f16ToF32(f32ToF16(f)) || bf16ToF32(f32ToBF16(f)) == bf16ToF32(f32ToBF16(f)) {
				t.Errorf("NaN %08x does not stay NaN", b)
			}
			continue
		}
		if got := f32ToF16(f); got != exp.F16Bits[i] {
			t.Errorf("f32ToF16(%g [%08x]) = %04x, torch %04x", f, b, got, exp.F16Bits[i])
		}
		if got := f32ToBF16(f); got != exp.BF16Bits[i] {
			t.Errorf("f32ToBF16(%g [%08x]) = %04x, torch %04x", f, b, got, exp.BF16Bits[i])
		}
	}
	for h := 0; h < 1<<16; h++ {
		f := f16ToF32(uint16(h))
		isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0
		if isNaN != (f != f) {
			t.Fatalf("f16ToF32(%04x) = %g", h, f)
		}
		if !isNaN && f32ToF16(f) != uint16(h) {
			t.Fatalf("f32ToF16(f16ToF32(%04x)) = %04x", h, f32ToF16(f))
		}
		// Exact value: ±mant·2^(exp-25) for normals, ±mant·2^-24 for subnormals.
		e, m := h>>10&0x1f, float64(h&0x3ff)
		var want float64
		switch {
		case e == 0:
			want = m * math.Exp2(-24)
		case e < 31:
			want = (1024 + m) * math.Exp2(float64(e)-25)
		default:
			want = math.Inf(1)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if !isNaN && float64(f) != want {
			t.Fatalf("f16ToF32(%04x) = %g, want %g", h, f, want)
		}
		bf := bf16ToF32(uint16(h))
		if bf == bf && f32ToBF16(bf) != uint16(h) {
			t.Fatalf("f32ToBF16(bf16ToF32(%04x)) = %04x", h, f32ToBF16(bf))
		}
	}
}

// TestConvertLoops checks the conversion loops (table lookups for F16,
// aligned and unaligned input) against the scalar conversions for every
// 16-bit pattern.
func TestConvertLoops(t *testing.T) {
	buf := make([]byte, 2<<16+1)
	for _, off := range []int{0, 1} {
		src := buf[off : off+2<<16]
		for h := 0; h < 1<<16; h++ {
			src[2*h], src[2*h+1] = byte(h), byte(h>>8)
		}
		for _, c := range []struct {
			dt   DType
			want func(uint16) float32
		}{{F16, f16ToF32}, {BF16, bf16ToF32}} {
			dst := make([]float32, 1<<16)
			convertToF32(dst, src, c.dt)
			for h := range dst {
				if math.Float32bits(dst[h]) != math.Float32bits(c.want(uint16(h))) {
					t.Fatalf("%s offset %d: pattern %04x gives %08x, want %08x", c.dt, off, h, math.Float32bits(dst[h]), math.Float32bits(c.want(uint16(h))))
				}
			}
		}
	}
}

// TestPrivateMapping checks that writing into a zero-copy slice changes
// neither the file on disk nor a second opening of it.
func TestPrivateMapping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := WriteSafetensors(path, []NamedTensor{{Name: "w", Shape: []int{3}, Data: []float32{1, 2, 3}}}, nil); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	v, _, _ := f.Float32("w")
	if !inside(v, f.data) {
		t.Fatal("not zero-copy")
	}
	v[0] = 42
	if w, _, _ := f.Float32("w"); w[0] != 42 {
		t.Errorf("the view is not shared within the File: %v", w)
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if w, _, _ := g.Float32("w"); w[0] != 1 {
		t.Errorf("a second File sees the write: %v", w)
	}
	f.Close()
	g.Close()
	if !bytes.Equal(before, readFile(t, path)) {
		t.Error("the file on disk changed")
	}
}

// Release hands back a mapped tensor's pages and the tensor still reads the
// file's values; unknown names and in-memory files are ignored.
func TestRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	big := make([]float32, 64<<10) // 256 KiB: many whole pages
	for i := range big {
		big[i] = float32(i) * 0.5
	}
	small := []float32{1, 2, 3}
	if err := WriteSafetensors(path, []NamedTensor{{Name: "big", Shape: []int{len(big)}, Data: big},
		{Name: "small", Shape: []int{3}, Data: small}}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, _, _ := f.Float32("big")
	w, _, _ := f.Float32("small")
	f.Release("big")
	f.Release("small")
	f.Release("no such tensor")
	f.Sub("b").Release("ig")
	if !slices.Equal(v, big) || !slices.Equal(w, small) {
		t.Fatal("values changed after Release")
	}
	if again, _, _ := f.Float32("big"); !slices.Equal(again, big) {
		t.Fatal("Float32 after Release differs")
	}
	m, err := OpenBytes("mem", readFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	m.Release("big")
	if x, _, _ := m.Float32("big"); !slices.Equal(x, big) {
		t.Fatal("in-memory file changed after Release")
	}
}

// TestWriter round-trips the golden tensors through WriteSafetensors and
// checks determinism, alignment and the atomic write.
func TestWriter(t *testing.T) {
	src, err := Open(goldenST)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var in []NamedTensor
	for _, name := range src.Names() {
		tn, _ := src.Tensor(name)
		in = append(in, NamedTensor{Name: name, DType: tn.DType, Shape: tn.Shape, Raw: tn.Bytes()})
	}
	vals := []float32{1, -2.5, 0.1, 65504, 1e-7, float32(math.Inf(-1))}
	in = append(in,
		NamedTensor{Name: "w.f32", Shape: []int{2, 3}, Data: vals},
		NamedTensor{Name: "w.f16", DType: F16, Shape: []int{6}, Data: vals},
		NamedTensor{Name: "w.bf16", DType: BF16, Shape: []int{3, 2}, Data: vals},
		NamedTensor{Name: "w.\u00e9\u6f22\U0001F600\"\\\n", DType: F32, Shape: []int{}, Data: []float32{7}})
	meta := map[string]string{"b": "2", "a": "x\ty\u00fc"}

	dir := t.TempDir()
	path := filepath.Join(dir, "out.safetensors")
	if err := os.WriteFile(path, []byte("old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(path, in, meta); err != nil {
		t.Fatal(err)
	}
	first := readFile(t, path)
	rev := slices.Clone(in)
	slices.Reverse(rev)
	if err := WriteSafetensors(path, rev, meta); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, readFile(t, path)) {
		t.Error("output depends on the input order")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if md := f.Metadata(); len(md) != 2 || md["a"] != meta["a"] || md["b"] != "2" {
		t.Errorf("metadata %v", md)
	}
	if len(f.Names()) != len(in) {
		t.Errorf("%d tensors, want %d", len(f.Names()), len(in))
	}
	hdr := int(uint64(first[0]) | uint64(first[1])<<8 | uint64(first[2])<<16)
	if hdr%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", hdr)
	}
	for _, nt := range in[:len(src.Names())] {
		tn, ok := f.Tensor(nt.Name)
		if !ok || tn.DType != nt.DType || !slices.Equal(tn.Shape, nt.Shape) || !bytes.Equal(tn.Bytes(), nt.Raw) {
			t.Errorf("%s does not round-trip", nt.Name)
		}
	}
	for _, tn := range []string{"w.f32", "w.f16", "w.bf16"} {
		got, _, err := f.Float32(tn)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			want := v
			switch tn {
			case "w.f16":
				want = f16ToF32(f32ToF16(v))
			case "w.bf16":
				want = bf16ToF32(f32ToBF16(v))
			}
			if got[i] != want {
				t.Errorf("%s[%d] = %g, want %g", tn, i, got[i], want)
			}
		}
	}
	if v, _, err := f.Float32("w.\u00e9\u6f22\U0001F600\"\\\n"); err != nil || len(v) != 1 || v[0] != 7 {
		t.Errorf("unicode name: %v %v", v, err)
	}
	// Every tensor starts at a multiple of its element size, so F32 is
	// read without a copy.
	for _, name := range f.Names() {
		tn, _ := f.Tensor(name)
		if tn.NumElements() > 0 && uintptr(unsafe.Pointer(&tn.data[0]))%uintptr(tn.DType.Size()) != 0 {
			t.Errorf("%s is not aligned", name)
		}
	}
	if v, _, _ := f.Float32("f32.big"); !inside(v, f.data) {
		t.Error("f32.big was copied")
	}

	for _, bad := range [][]NamedTensor{
		{{Name: "a", DType: F32, Shape: []int{2}, Raw: make([]byte, 4)}},
		{{Name: "a", DType: "F8", Shape: []int{1}, Raw: make([]byte, 1)}},
		{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}},
		{{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}},
		{{Name: "a", DType: I32, Shape: []int{1}, Data: []float32{1}}},
		{{Name: "a", Shape: []int{-1}, Data: []float32{}}},
		{{Name: "a", Shape: []int{2}, Data: []float32{1}}},
	} {
		p := filepath.Join(dir, "bad.safetensors")
		if err := WriteSafetensors(p, bad, nil); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%+v: error %v", bad, err)
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%+v: a file was written", bad)
		}
	}
}

// TestWriteThroughSymlinkKeepsMode checks that WriteSafetensors (and so
// ConvertFile) writes through a symbolic link to its target, leaving the
// link in place, keeps the permission bits of the file it replaces, and
// refuses to replace a directory.
func TestWriteThroughSymlinkKeepsMode(t *testing.T) {
	dir := t.TempDir()
	one := []NamedTensor{{Name: "x", Shape: []int{1}, Data: []float32{1}}}
	want, err := EncodeSafetensors(one, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		target string      // the file that must end up holding the output
		mode   os.FileMode // its mode before (0: it does not exist)
		link   string      // "" to write to target directly; else a link to make, relative
		want   os.FileMode
	}{
		{name: "new file", target: "new.safetensors", want: 0o644},
		{name: "private file", target: "private.safetensors", mode: 0o600, want: 0o600},
		{name: "group-writable file", target: "shared.safetensors", mode: 0o664, want: 0o664},
		{name: "symlink", target: "real.safetensors", mode: 0o640, link: "real.safetensors", want: 0o640},
		{name: "symlink to another dir", target: "sub/other.safetensors", mode: 0o600, link: "sub/other.safetensors", want: 0o600},
		{name: "dangling symlink", target: "sub/dangling.safetensors", link: "sub/dangling.safetensors", want: 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(dir, tc.target)
			if tc.mode != 0 {
				if err := os.WriteFile(target, []byte("OLD"), tc.mode); err != nil {
					t.Fatal(err)
				}
				os.Chmod(target, tc.mode) // past the umask
			}
			path := target
			if tc.link != "" {
				path = filepath.Join(dir, "link-"+strings.ReplaceAll(tc.name, " ", "-"))
				if err := os.Symlink(tc.link, path); err != nil {
					t.Skip("no symlinks:", err)
				}
			}
			if err := WriteSafetensors(path, one, nil); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, target); !bytes.Equal(got, want) {
				t.Errorf("target holds %q, want the new file", got)
			}
			if tc.link != "" {
				if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeSymlink == 0 {
					t.Errorf("the link was replaced: %v %v", st.Mode(), err)
				}
			}
			if st, err := os.Stat(target); err != nil || st.Mode().Perm() != tc.want {
				t.Errorf("target mode %v (%v), want %v", st.Mode().Perm(), err, tc.want)
			}
		})
	}
	for _, d := range []string{dir, sub} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temporary file %s left in %s", e.Name(), d)
			}
		}
	}
	if err := WriteSafetensors(sub, one, nil); err == nil || !strings.Contains(err.Error(), sub) {
		t.Errorf("writing over a directory: %v", err)
	}
	if st, err := os.Stat(sub); err != nil || !st.IsDir() {
		t.Errorf("the directory was replaced: %v", err)
	}
}

func TestSafetensorsErrors(t *testing.T) {
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[1,2],"data_offsets":[8,12]}}`
	body := make([]byte, 12)
	if _, err := OpenBytes("good.safetensors", stFile(good, body)); err != nil {
		t.Fatalf("the valid base file fails: %v", err)
	}
	long := make([]byte, 16)
	for _, c := range []struct {
		name, want string
		data       []byte
	}{
		{"empty", "shorter than", nil},
		{"seven bytes", "shorter than", []byte{1, 2, 3, 4, 5, 6, 7}},
		{"header past end", "exceeds the file", stFile(good, body)[:50]},
		{"header too large", "exceeds the limit", []byte{0, 0, 0, 0, 0, 0, 0, 1, '{', '}'}},
		{"bad json", "not valid JSON", stFile(`{"a":{"dtype":"F32",`, body)},
		{"not an object", "not valid JSON", stFile(`[1,2]`, nil)},
		{"trailing data", "not valid JSON", stFile(`{}{}`, nil)},
		{"duplicate name", "duplicate", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, long)},
		{"unknown dtype", `tensor "a": unknown or unsupported dtype "F8_E4M3"`, stFile(`{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}`, long)},
		{"dtype not string", `tensor "a"`, stFile(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, long)},
		{"size mismatch", `tensor "a": shape [3] of F32 (3 elements) does not fill data_offsets [0, 8] (8 bytes)`, stFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, long)},
		{"negative dim", `tensor "a"`, stFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, long)},
		{"fractional dim", `tensor "a"`, stFile(`{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, long)},
		{"overflowing dims", `tensor "a": shape`, stFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}`, long)},
		{"wrapping size", `tensor "a": shape [2305843009213693952] of F64`, stFile(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}`, long)},
		{"wrapping size 2", `tensor "a": shape [5 922337203685477581] of F32`, stFile(`{"a":{"dtype":"F32","shape":[5,922337203685477581],"data_offsets":[0,4]}}`, long)},
		{"huge dim", `tensor "a"`, stFile(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}`, long)},
		{"out of range", `tensor "a": data_offsets [8, 24] run past`, stFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}`, long)},
		{"reversed", `tensor "a": data_offsets [8, 0] are reversed`, stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, long)},
		{"negative offset", `tensor "a"`, stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, long)},
		{"three offsets", `tensor "a"`, stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}`, long)},
		{"overlap", `overlap those of tensor`, stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, long)},
		{"missing field", `tensor "a": header entry lacks "shape"`, stFile(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, long)},
		{"unknown field", `tensor "a": unknown header field "offsets"`, stFile(`{"a":{"dtype":"F32","shape":[2],"offsets":[0,8]}}`, long)},
		{"entry not object", `tensor "a"`, stFile(`{"a":[1,2]}`, long)},
		{"metadata not strings", "__metadata__", stFile(`{"__metadata__":{"k":1}}`, nil)},
		{"metadata not object", "__metadata__", stFile(`{"__metadata__":"x"}`, nil)},
		{"metadata null", "__metadata__", stFile(`{"__metadata__":null}`, nil)},
		{"too many dims", `tensor "a": shape has 65 dimensions`, stFile(`{"a":{"dtype":"F32","shape":[`+strings.Repeat("1,", 64)+`1],"data_offsets":[0,4]}}`, long)},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := "bad-" + strings.ReplaceAll(c.name, " ", "_") + ".safetensors"
			_, err := OpenBytes(path, c.data)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one wrapping ErrFormat naming %s and containing %q", err, path, c.want)
			}
		})
	}
	// A real file on disk, cut short: the error names the path.
	dir := t.TempDir()
	p := filepath.Join(dir, "cut.safetensors")
	os.WriteFile(p, readFile(t, goldenST)[:100], 0o644)
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("truncated file: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.safetensors")); err == nil || errors.Is(err, ErrFormat) {
		t.Errorf("missing file: %v", err)
	}
	// An empty file cannot be mapped: the read fallback reports it.
	os.WriteFile(p, nil, 0o644)
	if _, err := Open(p); !errors.Is(err, ErrFormat) {
		t.Errorf("empty file: %v", err)
	}
}

func TestPTErrors(t *testing.T) {
	golden := readFile(t, goldenPT)
	names, entries := zipEntries(t, golden)
	without := func(drop string) []byte {
		var keep []string
		for _, n := range names {
			if n != drop {
				keep = append(keep, n)
			}
		}
		return buildZip(t, keep, entries)
	}
	with := func(name string, b []byte) []byte {
		m := map[string][]byte{}
		for k, v := range entries {
			m[k] = v
		}
		m[name] = b
		n := names
		if _, ok := entries[name]; !ok {
			n = append(slices.Clone(names), name)
		}
		return buildZip(t, n, m)
	}
	pkl := entries["data.pkl"]
	// The storage of linear.weight is the first persistent id in the pickle.
	if i := bytes.Index(pkl, []byte("FloatStorage")); i < 0 {
		t.Fatal("golden pickle has no FloatStorage")
	}
	// The hand-made base case must load, so the failures below are theirs.
	okPickle := buildPickle([]ptEntry{{"w", "FloatStorage", "0", 6, 0, []int64{2, 3}, []int64{3, 1}}})
	f, err := OpenBytes("ok.pt", buildZip(t, []string{"data.pkl", "data/0"}, map[string][]byte{"data.pkl": okPickle, "data/0": f32le(1, 2, 3, 4, 5, 6)}))
	if err != nil {
		t.Fatalf("hand-made file: %v", err)
	}
	if v, _, _ := f.Float32("w"); !slices.Equal(v, []float32{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("hand-made file: %v", v)
	}
	view := func(size, stride []int64, offset, numel int64, storageBytes int) []byte {
		p := buildPickle([]ptEntry{{"w", "FloatStorage", "0", numel, offset, size, stride}})
		return buildZip(t, []string{"data.pkl", "data/0"}, map[string][]byte{"data.pkl": p, "data/0": make([]byte, storageBytes)})
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(pkl, []byte(old)) {
			t.Fatalf("pickle lacks %q", old)
		}
		return with("data.pkl", bytes.Replace(pkl, []byte(old), []byte(new), 1))
	}
	for _, c := range []struct {
		name, want string
		data       []byte
	}{
		{"truncated zip", "not a readable zip", golden[:len(golden)/2]},
		{"truncated zip tail", "not a readable zip", golden[:len(golden)-10]},
		{"no data.pkl", "no <archive>/data.pkl", without("data.pkl")},
		{"missing storage", `tensor "linear.weight": storage entry arch/data/0 is missing`, without("data/0")},
		{"short storage", `tensor "linear.weight": storage entry arch/data/0 holds 8 bytes`, with("data/0", make([]byte, 8))},
		{"unsupported global", "unsupported pickle global posix.system", replace("collections\nOrderedDict\n", "posix\nsystem\n")},
		{"unsupported storage", "unsupported pickle global torch.ComplexFloatStorage", replace("torch\nFloatStorage\n", "torch\nComplexFloatStorage\n")},
		{"truncated pickle", "without STOP", with("data.pkl", pkl[:len(pkl)-1])},
		{"cut pickle", "needs", with("data.pkl", pkl[:40])},
		{"big endian", "byteorder", with("byteorder", []byte("big"))},
		{"bad opcode", "unsupported pickle opcode", with("data.pkl", []byte{0x80, 2, 'i', '.'})},
		{"not a dict", "not a state dict", with("data.pkl", []byte{0x80, 2, 'K', 1, '.'})},
		{"non-tensor value", `tensor "k": value is a int`, with("data.pkl", []byte{0x80, 2, '}', 'X', 1, 0, 0, 0, 'k', 'K', 1, 's', '.'})},
		{"stack underflow", "stack underflow", with("data.pkl", []byte{0x80, 2, 'R', '.'})},
		{"past storage", `tensor "w": view (offset 0, size [2 3], stride [4 1]) runs past`, view([]int64{2, 3}, []int64{4, 1}, 0, 6, 24)},
		{"past storage by offset", `tensor "w": view (offset 3, size [2 2], stride [2 1]) runs past`, view([]int64{2, 2}, []int64{2, 1}, 3, 6, 24)},
		{"offset outside", `tensor "w": storage offset 6 is outside`, view([]int64{1}, []int64{1}, 6, 6, 24)},
		{"expanded", `tensor "w": view of 12 elements is larger`, view([]int64{4, 3}, []int64{0, 1}, 0, 3, 12)},
		{"rank mismatch", "differ in length", view([]int64{2, 3}, []int64{3}, 0, 6, 24)},
		{"negative size", "size", view([]int64{-2, 3}, []int64{3, 1}, 0, 6, 24)},
		{"negative stride", "stride", view([]int64{2, 3}, []int64{-3, 1}, 0, 6, 24)},
		{"overflowing shape", "overflows", view([]int64{1 << 40, 1 << 40}, []int64{1, 1}, 0, 6, 24)},
		{"huge numel", "too large", view([]int64{2}, []int64{1}, 0, 1<<60, 24)},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := "bad-" + strings.ReplaceAll(c.name, " ", "_") + ".pt"
			_, err := OpenBytes(path, c.data)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one wrapping ErrFormat naming %s and containing %q", err, path, c.want)
			}
		})
	}
	// torch never compresses; a deflated data.pkl is read, deflated tensor
	// data is refused.
	exp := loadExpected(t)
	f, err = OpenBytes("deflated-pkl.pt", buildZipDeflate(t, names, entries, map[string]bool{"data.pkl": true}))
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := f.Float32("f16.transposed"); err != nil || !slices.Equal(f32bits(v), exp.Tensors["f16.transposed"].F32Bits) {
		t.Errorf("deflated data.pkl: %v", err)
	}
	if _, err := OpenBytes("deflated-data.pt", buildZipDeflate(t, names, entries, map[string]bool{"data/0": true})); !errors.Is(err, ErrFormat) ||
		!strings.Contains(err.Error(), `deflated-data.pt: tensor "linear.weight": zip entry arch/data/0 is compressed`) {
		t.Errorf("deflated storage: %v", err)
	}
	// Deeply nested and cyclic values must not make error formatting
	// recurse: a million nested tuples as a persistent id, a list that
	// contains itself as the state dict.
	deep := append([]byte{0x80, 2, 'K', 1}, bytes.Repeat([]byte{0x85}, 1<<20)...)
	deep = append(deep, 'Q', '.')
	if _, err := OpenBytes("deep.pt", with("data.pkl", deep)); err == nil || !strings.Contains(err.Error(), "persistent id (tuple) is not") {
		t.Errorf("deep pickle: %v", err)
	}
	many := append([]byte{0x80, 2}, bytes.Repeat([]byte{']'}, 1001)...)
	if _, err := unpickle(append(many, '.'), 1000, nil); err == nil || !strings.Contains(err.Error(), "more than 1000 values") {
		t.Errorf("too many values: %v", err)
	}
	if v, err := unpickle(append(many[:1002], '.'), 1000, nil); err != nil || pyType(v) != "list" {
		t.Errorf("1000 values: %v %v", v, err)
	}
	cyclic := []byte{0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.'}
	if _, err := OpenBytes("cyclic.pt", with("data.pkl", cyclic)); err == nil || !strings.Contains(err.Error(), "holds a list") {
		t.Errorf("cyclic pickle: %v", err)
	}
	if _, err := OpenBytes("legacy.pt", append(legacyMagic, 0x2e)); err == nil || !strings.Contains(err.Error(), "legacy") {
		t.Errorf("legacy pickle: %v", err)
	}
	// A safetensors header of 640 bytes starts with 0x80 0x02, like a
	// pickle: it must still be read as safetensors.
	h := `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	h += strings.Repeat(" ", 640-len(h))
	f, err = OpenBytes("x.safetensors", stFile(h, f32le(3)))
	if err != nil || f.Format() != "safetensors" {
		t.Fatalf("safetensors starting 0x80 0x02: %v", err)
	}
}

// TestPTInsertionOrder keeps the documented orders honest: a hand-made .pt
// keeps insertion order even when it is not sorted.
func TestPTInsertionOrder(t *testing.T) {
	p := buildPickle([]ptEntry{
		{"z", "HalfStorage", "k", 2, 0, []int64{2}, []int64{1}},
		{"a", "HalfStorage", "k", 2, 1, []int64{}, []int64{}},
	})
	f, err := OpenBytes("order.pt", buildZip(t, []string{"data.pkl", "data/k"}, map[string][]byte{"data.pkl": p, "data/k": {0x00, 0x3c, 0x00, 0xc0}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); !slices.Equal(got, []string{"z", "a"}) || sort.StringsAreSorted(got) {
		t.Errorf("names %v", got)
	}
	if v, s, _ := f.Float32("a"); len(s) != 0 || !slices.Equal(v, []float32{-2}) {
		t.Errorf("0-d half at offset 1: %v %v", v, s)
	}
	if v, _, _ := f.Float32("z"); !slices.Equal(v, []float32{1, -2}) {
		t.Errorf("half vector: %v", v)
	}
}

func TestInts(t *testing.T) {
	data, err := EncodeSafetensors([]NamedTensor{
		{Name: "a", DType: I64, Shape: []int{3}, Raw: []byte{255, 255, 255, 255, 255, 255, 255, 255, 2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0}},
		{Name: "b", DType: U8, Shape: []int{2}, Raw: []byte{200, 1}},
		{Name: "f", Shape: []int{1}, Data: []float32{1}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenBytes("ints", data)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]int{"a": {-1, 2, 7}, "b": {200, 1}} {
		ten, _ := f.Tensor(name)
		got, err := ten.Ints()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v, %v; want %v", name, got, err, want)
		}
	}
	ten, _ := f.Tensor("f")
	if _, err := ten.Ints(); err == nil {
		t.Error("F32 tensor read as ints")
	}
}
