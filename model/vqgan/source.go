package vqgan

// Source supplies parameters by state-dict name as row-major float32 data
// with their shape. Its method set is identical to model.Source, so any
// model.Source is a vqgan.Source; the interface is repeated here because
// package model imports this package.
type Source interface {
	// Has reports whether the tensor exists.
	Has(name string) bool
	// Float32 returns the tensor as float32 and its shape. A missing name is
	// an error.
	Float32(name string) (data []float32, shape []int, err error)
}
