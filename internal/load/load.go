// Package load reads named float32 tensors from a weight source and checks
// their shapes: the common core of the networks' weight loaders (package
// model's encoder and decoder, model/vqgan, model/judge), each of which adds
// its own name to the errors.
package load

import (
	"fmt"
	"slices"
)

// Source supplies tensors by name, as model.Source, vqgan.Source and
// judge.Source do (package weights implements them all).
type Source interface {
	Has(name string) bool
	Float32(name string) (data []float32, shape []int, err error)
}

// Reader reads tensors from Src and keeps the first error, prefixed with
// Part, so that a network's construction code reads as a list of layers and
// checks Err once.
type Reader struct {
	Src  Source
	Part string // the network's name in errors: "encoder", "vqgan", "judge"
	Err  error
}

// Tensor returns Tensor(r.Src, name, shape...), or nil once an error is
// kept (this one or an earlier one).
func (r *Reader) Tensor(name string, shape ...int) []float32 {
	if r.Err != nil {
		return nil
	}
	data, err := Tensor(r.Src, name, shape...)
	if err != nil {
		r.Err = fmt.Errorf("%s: %w", r.Part, err)
	}
	return data
}

// Tensor returns the tensor name, which must exist with exactly shape and
// as many values as shape holds, all of them finite.
func Tensor(src Source, name string, shape ...int) ([]float32, error) {
	if !src.Has(name) {
		return nil, fmt.Errorf("missing tensor %s (shape %v)", name, shape)
	}
	data, got, err := src.Float32(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !slices.Equal(got, shape) {
		return nil, fmt.Errorf("%s has shape %v, want %v", name, got, shape)
	}
	n := 1
	for _, s := range shape {
		n *= s
	}
	if len(data) != n {
		return nil, fmt.Errorf("%s has %d values, its shape %v needs %d", name, len(data), shape, n)
	}
	for i, v := range data {
		if v-v != 0 { // NaN or ±Inf: no trained network holds one
			return nil, fmt.Errorf("%s holds %v at index %d: a corrupt or diverged weights file", name, v, i)
		}
	}
	return data, nil
}
