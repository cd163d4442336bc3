package vqgan

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
)

// stFile is a minimal safetensors reader for the golden file (F32, I64 and
// U8 only), so the tests need no other package of the project.
type stFile struct {
	meta    map[string]string
	tensors map[string]stTensor
}

type stTensor struct {
	dtype string
	shape []int
	raw   []byte
}

func readST(path string) (*stFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("%s: too short", path)
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%s: header length %d past the end", path, n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data := b[8+n:]
	f := &stFile{tensors: map[string]stTensor{}}
	for name, msg := range header {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.meta); err != nil {
				return nil, fmt.Errorf("%s: metadata: %w", path, err)
			}
			continue
		}
		var info struct {
			Dtype   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &info); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		if info.Offsets[0] < 0 || info.Offsets[0] > info.Offsets[1] || info.Offsets[1] > len(data) {
			return nil, fmt.Errorf("%s: %s: bad offsets %v", path, name, info.Offsets)
		}
		f.tensors[name] = stTensor{info.Dtype, info.Shape, data[info.Offsets[0]:info.Offsets[1]]}
	}
	return f, nil
}

func (f *stFile) Has(name string) bool { _, ok := f.tensors[name]; return ok }

func (f *stFile) Float32(name string) ([]float32, []int, error) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, nil, fmt.Errorf("no tensor %q", name)
	}
	if t.dtype != "F32" {
		return nil, nil, fmt.Errorf("tensor %q is %s, not F32", name, t.dtype)
	}
	out := make([]float32, len(t.raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.raw[4*i:]))
	}
	return out, slices.Clone(t.shape), nil
}

func (f *stFile) ints(name string) ([]int, []int, error) {
	t, ok := f.tensors[name]
	if !ok || t.dtype != "I64" {
		return nil, nil, fmt.Errorf("no I64 tensor %q", name)
	}
	out := make([]int, len(t.raw)/8)
	for i := range out {
		out[i] = int(int64(binary.LittleEndian.Uint64(t.raw[8*i:])))
	}
	return out, t.shape, nil
}

func (f *stFile) bytes(name string) ([]byte, []int, error) {
	t, ok := f.tensors[name]
	if !ok || t.dtype != "U8" {
		return nil, nil, fmt.Errorf("no U8 tensor %q", name)
	}
	return t.raw, t.shape, nil
}

// mapSource is a Source over an in-memory map, for the bad-input tests.
type mapSource map[string]mapTensor

type mapTensor struct {
	data  []float32
	shape []int
}

func (m mapSource) Has(name string) bool { _, ok := m[name]; return ok }

func (m mapSource) Float32(name string) ([]float32, []int, error) {
	t, ok := m[name]
	if !ok {
		return nil, nil, fmt.Errorf("no tensor %q", name)
	}
	return t.data, t.shape, nil
}
