package weights

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseDType(t *testing.T) {
	for in, want := range map[string]DType{"f32": F32, "FP32": F32, "float16": F16, "half": F16, "bf16": BF16, "q8": Q8, "int8": Q8} {
		if got, err := ParseDType(in); err != nil || got != want {
			t.Errorf("ParseDType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "f64", "q4", "i8"} {
		if _, err := ParseDType(in); err == nil {
			t.Errorf("ParseDType(%q): no error", in)
		}
	}
}

// expectConverted builds, with EncodeSafetensors and independently of
// ConvertFile, what converting the golden small file to dt must give:
// floating-point tensors as Data of dt (F64 → F32 under Q8), the 2-D
// f32.big (K = 32) quantised under Q8, other tensors' bytes as they are.
func expectConverted(t *testing.T, src *File, dt DType, meta map[string]string) []byte {
	t.Helper()
	var ts []NamedTensor
	for _, name := range src.Names() {
		tn, _ := src.Tensor(name)
		v, _, err := src.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		floating := tn.DType == F32 || tn.DType == F16 || tn.DType == BF16 || tn.DType == F64
		switch {
		case !floating:
			ts = append(ts, NamedTensor{Name: name, DType: tn.DType, Shape: tn.Shape, Raw: tn.Bytes()})
		case dt == Q8 && len(tn.Shape) == 2 && tn.Shape[1] >= 32:
			q, sc, err := QuantizeQ8(v, tn.Shape)
			if err != nil {
				t.Fatal(err)
			}
			s := make([]float32, len(sc))
			for i, h := range sc {
				s[i] = f16ToF32(h)
			}
			ts = append(ts, NamedTensor{Name: name, DType: I8, Shape: tn.Shape, Raw: int8Bytes(q)},
				NamedTensor{Name: name + Q8ScaleSuffix, DType: F16, Shape: []int{tn.Shape[0], 1}, Data: s})
		case dt == Q8:
			keep := tn.DType
			if keep == F64 {
				keep = F32
			}
			ts = append(ts, NamedTensor{Name: name, DType: keep, Shape: tn.Shape, Data: append([]float32{}, v...)})
		default:
			ts = append(ts, NamedTensor{Name: name, DType: dt, Shape: tn.Shape, Data: append([]float32{}, v...)})
		}
	}
	b, err := EncodeSafetensors(ts, meta)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ConvertFile writes, byte for byte, what EncodeSafetensors writes for the
// expected tensors, from .pt and from safetensors alike (the same bytes),
// with the metadata it documents.
func TestConvertFileMatchesEncoder(t *testing.T) {
	dir := t.TempDir()
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		var outs [][]byte
		for _, in := range []string{goldenPT, goldenST} {
			out := filepath.Join(dir, string(dt)+filepath.Ext(in)+".safetensors")
			if err := ConvertFile(context.Background(), in, out, dt, ConvertOptions{Metadata: map[string]string{"tessella.source": "small"}}); err != nil {
				t.Fatalf("%s → %s: %v", in, dt, err)
			}
			got := readFile(t, out)
			src, err := Open(in)
			if err != nil {
				t.Fatal(err)
			}
			meta := src.Metadata()
			for k, v := range map[string]string{"tessella.dtype": strings.ToLower(string(dt)), "tessella.source": "small"} {
				meta[k] = v
			}
			if dt == Q8 {
				meta["tessella.q8_group"] = "32"
			}
			want := expectConverted(t, src, dt, meta)
			src.Close()
			if !bytes.Equal(got, want) {
				t.Errorf("%s → %s: %d bytes differ from EncodeSafetensors' %d", in, dt, len(got), len(want))
			}
			outs = append(outs, got)
		}
		// The inputs differ only in metadata: so do the outputs' headers.
		a, err := OpenBytes("pt", outs[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := OpenBytes("st", outs[1])
		if err != nil {
			t.Fatal(err)
		}
		if !slicesEqual(a.Names(), b.Names()) {
			t.Errorf("%s: .pt and safetensors outputs name %v and %v", dt, a.Names(), b.Names())
		}
		for _, name := range a.Names() {
			ta, _ := a.Tensor(name)
			tb, _ := b.Tensor(name)
			if ta.DType != tb.DType || !bytes.Equal(ta.Bytes(), tb.Bytes()) {
				t.Errorf("%s: %s: .pt and safetensors inputs convert differently", dt, name)
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// Metadata of a safetensors input survives; options override it.
func TestConvertKeepsMetadata(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.safetensors")
	if err := WriteSafetensors(in, []NamedTensor{{Name: "w", Shape: []int{2, 64}, Data: make([]float32, 128)}},
		map[string]string{"author": "me", "tessella.dtype": "old"}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.safetensors")
	if err := ConvertFile(context.Background(), in, out, Q8, ConvertOptions{Metadata: map[string]string{"note": "x"}}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := f.Metadata()
	if m["author"] != "me" || m["note"] != "x" || m["tessella.dtype"] != "q8" || m["tessella.source"] != "in.safetensors" || m["tessella.q8_group"] != "32" {
		t.Errorf("metadata %v", m)
	}
	if tn, _ := f.Tensor("w"); tn.DType != I8 || !tn.IsQ8() {
		t.Errorf("w is %s, q8 %v", tn.DType, tn.IsQ8())
	}
}

// Re-quantising a q8 file changes nothing; converting it to f32 stores the
// dequantised values; Float F16 stores the unquantised tensors as F16.
func TestConvertQ8RoundTrips(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	q1, q2, f32 := filepath.Join(dir, "q1"), filepath.Join(dir, "q2"), filepath.Join(dir, "f32")
	if err := ConvertFile(ctx, goldenST, q1, Q8, ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ConvertFile(ctx, q1, q2, Q8, ConvertOptions{Metadata: map[string]string{"tessella.source": "small.safetensors"}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, q1), readFile(t, q2)) {
		t.Error("q8 → q8 changed the file")
	}
	if err := ConvertFile(ctx, q1, f32, F32, ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	a, _ := Open(q1)
	b, _ := Open(f32)
	defer a.Close()
	defer b.Close()
	for _, name := range b.Names() {
		if strings.HasSuffix(name, Q8ScaleSuffix) {
			t.Errorf("f32 output holds %s", name)
		}
		va, _, err := a.Float32(name)
		vb, _, err2 := b.Float32(name)
		if err != nil || err2 != nil {
			t.Fatal(err, err2)
		}
		for i := range va {
			if math.Float32bits(va[i]) != math.Float32bits(vb[i]) && !(va[i] != va[i] && vb[i] != vb[i]) {
				t.Fatalf("%s[%d]: q8 reads %v, its f32 conversion %v", name, i, va[i], vb[i])
			}
		}
	}
	if tn, _ := b.Tensor("f32.big"); tn.DType != F32 {
		t.Errorf("f32.big is %s", tn.DType)
	}
	half := filepath.Join(dir, "half")
	if err := ConvertFile(ctx, goldenST, half, Q8, ConvertOptions{Float: F16}); err != nil {
		t.Fatal(err)
	}
	h, _ := Open(half)
	defer h.Close()
	if tn, _ := h.Tensor("linear.bias"); tn.DType != F16 {
		t.Errorf("Float F16: linear.bias is %s", tn.DType)
	}
	if tn, _ := h.Tensor("i64.idx"); tn.DType != I64 {
		t.Errorf("Float F16: i64.idx is %s", tn.DType)
	}
}

// A failed conversion leaves the previous output untouched and no
// temporary file; so does a cancelled one.
func TestConvertFailureIsAtomic(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "nan.safetensors")
	x := make([]float32, 64)
	x[10] = float32(math.NaN())
	if err := WriteSafetensors(in, []NamedTensor{{Name: "w", Shape: []int{2, 32}, Data: x}}, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.safetensors")
	os.WriteFile(out, []byte("old"), 0o644)
	err := ConvertFile(context.Background(), in, out, Q8, ConvertOptions{})
	if err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("NaN under q8: %v (want an error naming the tensor)", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ConvertFile(ctx, goldenST, out, F16, ConvertOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Error("the previous output was replaced")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2 (input and old output)", len(entries))
	}
	if err := ConvertFile(context.Background(), goldenST, out, "F64", ConvertOptions{}); err == nil {
		t.Error("F64 target accepted")
	}
	if err := ConvertFile(context.Background(), filepath.Join(dir, "missing"), out, F16, ConvertOptions{}); err == nil {
		t.Error("missing input accepted")
	}
}

// Cast reads every tensor exactly as the converted file reads it.
func TestCastEqualsConvertedFile(t *testing.T) {
	in := "../testdata/engine/pt/dalle_bart_mini/decoder.pt"
	src, err := Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		out := filepath.Join(t.TempDir(), "d.safetensors")
		if err := ConvertFile(context.Background(), in, out, dt, ConvertOptions{}); err != nil {
			t.Fatal(err)
		}
		conv, err := Open(out)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewCast(src, dt, ConvertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		changed := 0
		for _, name := range src.Names() {
			want, ws, err := conv.Float32(name)
			if err != nil {
				t.Fatal(err)
			}
			got, gs, err := c.Float32(name)
			if err != nil {
				t.Fatal(err)
			}
			orig, _, _ := src.Float32(name)
			if !equalInts(ws, gs) || len(got) != len(want) {
				t.Fatalf("%s %s: shape %v vs %v", dt, name, gs, ws)
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s %s[%d]: Cast %v, file %v", dt, name, i, got[i], want[i])
				}
				if got[i] != orig[i] {
					changed++
				}
			}
		}
		if (dt == F32) != (changed == 0) {
			t.Errorf("%s: %d values changed by the conversion", dt, changed)
		}
		conv.Close()
	}
	if _, err := NewCast(src, I8, ConvertOptions{}); err == nil {
		t.Error("NewCast(I8) accepted")
	}
}

func TestNewCastErrors(t *testing.T) {
	src, err := Open(goldenST)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, tc := range []struct {
		name string
		f    *File
		dt   DType
	}{
		{"nil file", nil, F16},
		{"nil file, bad dtype", nil, "X"},
		{"bad dtype", src, "X"},
		{"integer dtype", src, I8},
	} {
		c, err := NewCast(tc.f, tc.dt, ConvertOptions{})
		if err == nil || c != nil {
			t.Errorf("%s: NewCast = %v, %v; want an error", tc.name, c, err)
		} else if !strings.HasPrefix(err.Error(), "weights: ") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ConvertTo writes, byte for byte, the file ConvertFile writes, for every
// dtype, from .pt and from safetensors, with options.
func TestConvertToEqualsConvertFile(t *testing.T) {
	dir := t.TempDir()
	optss := []ConvertOptions{{}, {Float: F16, Metadata: map[string]string{"k": "v"}}}
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		for _, in := range []string{goldenPT, goldenST} {
			for i, opts := range optss {
				if dt != Q8 && i > 0 {
					continue
				}
				out := filepath.Join(dir, "out.safetensors")
				if err := ConvertFile(context.Background(), in, out, dt, opts); err != nil {
					t.Fatalf("ConvertFile %s → %s: %v", in, dt, err)
				}
				var buf bytes.Buffer
				if err := ConvertTo(context.Background(), in, &buf, dt, opts); err != nil {
					t.Fatalf("ConvertTo %s → %s: %v", in, dt, err)
				}
				if want := readFile(t, out); !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("%s → %s (options %d): ConvertTo wrote %d bytes that differ from ConvertFile's %d", in, dt, i, buf.Len(), len(want))
				}
			}
		}
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

// ConvertTo's errors, and ConvertFile's errors of the input, name the
// input once: "weights: IN: …", never "weights: OUT: weights: IN: …".
func TestConvertErrorPrefixes(t *testing.T) {
	dir := t.TempDir()
	nan := filepath.Join(dir, "nan.safetensors")
	x := make([]float32, 64)
	x[10] = float32(math.NaN())
	if err := WriteSafetensors(nan, []NamedTensor{{Name: "w", Shape: []int{2, 32}, Data: x}}, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.safetensors")
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	prefix := func(in string) string { return "weights: " + in + ": " }
	once := func(what string, err error, in string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
		} else if !strings.HasPrefix(err.Error(), prefix(in)) || strings.Count(err.Error(), "weights: ") != 1 {
			t.Errorf("%s: error %q, want one prefix %q", what, err, prefix(in))
		}
	}
	once("ConvertFile, NaN under q8", ConvertFile(ctx, nan, out, Q8, ConvertOptions{}), nan)
	once("ConvertTo, NaN under q8", ConvertTo(ctx, nan, io.Discard, Q8, ConvertOptions{}), nan)
	once("ConvertTo, bad dtype", ConvertTo(ctx, goldenST, io.Discard, "F64", ConvertOptions{}), goldenST)
	missing := filepath.Join(dir, "missing") // Open's own form: "weights: open IN: …"
	if err := ConvertTo(ctx, missing, io.Discard, F16, ConvertOptions{}); err == nil || !strings.Contains(err.Error(), missing) || strings.Count(err.Error(), "weights: ") != 1 {
		t.Errorf("ConvertTo, missing input: %v", err)
	}
	err := ConvertTo(cancelled, goldenST, io.Discard, F16, ConvertOptions{})
	once("ConvertTo, cancelled", err, goldenST)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ConvertTo, cancelled: %v does not wrap context.Canceled", err)
	}
	for _, n := range []int{0, 4, 100} {
		err := ConvertTo(ctx, goldenST, &failWriter{n}, F16, ConvertOptions{})
		once(fmt.Sprintf("ConvertTo, writer failing after %d bytes", n), err, goldenST)
		if err != nil && !strings.Contains(err.Error(), "disk full") {
			t.Errorf("writer failing after %d bytes: %v hides the writer's error", n, err)
		}
	}
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed ConvertFile left %s (%v)", out, err)
	}
}
