package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"
)

const (
	goldenPT   = "../testdata/weights/small.pt"
	goldenST   = "../testdata/weights/small.safetensors"
	goldenJSON = "../testdata/weights/expected.json"
)

type expectedTensor struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	F32Bits []uint32 `json:"f32bits"`
}

type expectedFile struct {
	Tensors  map[string]expectedTensor `json:"tensors"`
	Order    []string                  `json:"order"`
	Rounding struct {
		F32Bits  []uint32 `json:"f32bits"`
		F16Bits  []uint16 `json:"f16bits"`
		BF16Bits []uint16 `json:"bf16bits"`
	} `json:"rounding"`
}

func loadExpected(t testing.TB) *expectedFile {
	t.Helper()
	b, err := os.ReadFile(goldenJSON)
	if err != nil {
		t.Fatal(err)
	}
	var e expectedFile
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Tensors) == 0 || len(e.Rounding.F32Bits) == 0 {
		t.Fatal("expected.json is empty")
	}
	return &e
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stFile builds a safetensors file from a header string and a body.
func stFile(header string, body []byte) []byte {
	out := make([]byte, 8, 8+len(header)+len(body))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	return append(out, body...)
}

// pk builds pickles the way torch.save does (protocol 2).
type pk struct{ b []byte }

func (p *pk) op(b ...byte) *pk { p.b = append(p.b, b...); return p }
func (p *pk) str(s string) *pk {
	p.op('X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
	return p
}
func (p *pk) int(n int64) *pk {
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		p.op('J')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(n)))
		return p
	}
	p.op(0x8a, 8)
	p.b = binary.LittleEndian.AppendUint64(p.b, uint64(n))
	return p
}
func (p *pk) global(m, n string) *pk { return p.op('c').op([]byte(m + "\n" + n + "\n")...) }
func (p *pk) ints(v []int64) *pk {
	p.op('(')
	for _, x := range v {
		p.int(x)
	}
	return p.op('t')
}

// ptEntry is one tensor of a hand-made state dict.
type ptEntry struct {
	name, storageType, key string
	numel, offset          int64
	size, stride           []int64
}

// buildPickle returns the data.pkl of an OrderedDict of the entries.
func buildPickle(entries []ptEntry) []byte {
	p := &pk{}
	p.op(0x80, 2).global("collections", "OrderedDict").op(')', 'R', '(')
	for _, e := range entries {
		p.str(e.name).global("torch._utils", "_rebuild_tensor_v2").op('(')
		p.op('(').str("storage").global("torch", e.storageType).str(e.key).str("cpu").int(e.numel).op('t', 'Q')
		p.int(e.offset).ints(e.size).ints(e.stride).op(0x89)
		p.global("collections", "OrderedDict").op(')', 'R', 't', 'R')
	}
	return p.op('u', '.').b
}

// buildZip writes a torch.save-like archive "arch/" (stored entries, in
// the given order; entries maps names under arch/ to contents).
func buildZip(t testing.TB, names []string, entries map[string][]byte) []byte {
	return buildZipDeflate(t, names, entries, nil)
}

// buildZipDeflate is buildZip with the named entries compressed.
func buildZipDeflate(t testing.TB, names []string, entries map[string][]byte, deflate map[string]bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, n := range names {
		method := zip.Store
		if deflate[n] {
			method = zip.Deflate
		}
		fw, err := w.CreateHeader(&zip.FileHeader{Name: "arch/" + n, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(entries[n])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipEntries returns the entries of a zip, in order, with the archive
// prefix stripped.
func zipEntries(t testing.TB, data []byte) ([]string, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	m := map[string][]byte{}
	for _, e := range zr.File {
		r, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(r)
		r.Close()
		_, n, _ := bytes.Cut([]byte(e.Name), []byte("/"))
		names = append(names, string(n))
		m[string(n)] = b.Bytes()
	}
	return names, m
}

func f32le(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}
