package weights

import (
	"archive/zip"
	"bytes"
	"fmt"
	"testing"
)

// FuzzSafetensorsHeader feeds whole files to the safetensors parser; a
// file it accepts must be fully readable.
func FuzzSafetensorsHeader(f *testing.F) {
	f.Add(readFile(f, goldenST))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[],"data_offsets":[8,10]},"__metadata__":{"k":"v"}}`, make([]byte, 10)))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2,0],"data_offsets":[3,3]}}  `, nil))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 16)))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, '{'})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := parse("fuzz.safetensors", data, "safetensors")
		if err != nil {
			if file != nil {
				t.Fatal("file and error")
			}
			return
		}
		checkReadable(t, file)
	})
}

// FuzzPickle feeds bytes to the unpickler and the state-dict loader, with
// every storage a zero buffer of the size the pickle claims (up to 1 MiB).
func FuzzPickle(f *testing.F) {
	golden := readFile(f, goldenPT)
	zr, err := zip.NewReader(bytes.NewReader(golden), int64(len(golden)))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range zr.File {
		if e.Name == "small/data.pkl" {
			r, _ := e.Open()
			var b bytes.Buffer
			b.ReadFrom(r)
			f.Add(b.Bytes())
		}
	}
	f.Add(buildPickle([]ptEntry{
		{"a", "FloatStorage", "0", 12, 1, []int64{3, 2}, []int64{1, 3}},
		{"b", "HalfStorage", "1", 4, 0, []int64{}, []int64{}},
		{"c", "FloatStorage", "0", 12, 0, []int64{0, 5}, []int64{5, 1}},
	}))
	f.Add([]byte{0x80, 2, '}', '(', 'X', 1, 0, 0, 0, 'k', 'h', 0, 'u', '.'})
	f.Fuzz(func(t *testing.T, data []byte) {
		file := &File{path: "fuzz.pt", format: "pt", byName: map[string]*Tensor{}}
		total := 0
		err := file.loadPickle(data, func(key string, n int) ([]byte, error) {
			total += n
			if n > 1<<20 || total > 4<<20 {
				return nil, fmt.Errorf("storage %s: %d bytes is more than the fuzz limit", key, n)
			}
			return make([]byte, n), nil
		})
		if err != nil {
			return
		}
		checkReadable(t, file)
	})
}

// checkReadable reads every tensor of an accepted file.
func checkReadable(t *testing.T, f *File) {
	for _, name := range f.Names() {
		tn, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("%q listed but missing", name)
		}
		n, err := checkShape(tn.Shape)
		if err != nil || n != tn.NumElements() {
			t.Fatalf("%q: shape %v, numel %d", name, tn.Shape, tn.NumElements())
		}
		if got := len(tn.Bytes()); got != n*tn.DType.Size() {
			t.Fatalf("%q: %d bytes for %d elements of %s", name, got, n, tn.DType)
		}
		v, _, err := f.Float32(name)
		if err != nil || len(v) != n {
			t.Fatalf("%q: Float32: %d values, %v", name, len(v), err)
		}
	}
}

// FuzzOpenPT feeds whole files to the .pt reader (zip container, pickle
// and storages).
func FuzzOpenPT(f *testing.F) {
	f.Add(readFile(f, goldenPT))
	f.Add(buildZip(f, []string{"data.pkl", "data/0"}, map[string][]byte{
		"data.pkl": buildPickle([]ptEntry{{"w", "FloatStorage", "0", 6, 1, []int64{2, 2}, []int64{1, 2}}}),
		"data/0":   f32le(1, 2, 3, 4, 5, 6),
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := parse("fuzz.pt", data, "pt")
		if err != nil {
			return
		}
		checkReadable(t, file)
	})
}
