package vqgan

import (
	"fmt"

	"github.com/tessella-ml/tessella/weights"
)

// stFile reads the golden file through package weights (a Source).
type stFile struct {
	*weights.File
	meta map[string]string
}

func readST(path string) (*stFile, error) {
	f, err := weights.Open(path)
	if err != nil {
		return nil, err
	}
	return &stFile{File: f, meta: f.Metadata()}, nil
}

func (f *stFile) ints(name string) ([]int, []int, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, nil, fmt.Errorf("no tensor %q", name)
	}
	v, err := t.Ints()
	return v, t.Shape, err
}

func (f *stFile) bytes(name string) ([]byte, []int, error) {
	t, ok := f.Tensor(name)
	if !ok || t.DType != weights.U8 {
		return nil, nil, fmt.Errorf("no U8 tensor %q", name)
	}
	return t.Bytes(), t.Shape, nil
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
