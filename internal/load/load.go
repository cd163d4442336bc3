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

// Tensor returns the tensor name, which must exist with exactly shape and
// as many values as shape holds.
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
	return data, nil
}
