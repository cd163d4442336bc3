package model

// Source supplies a network's parameters by state-dict name (min-dalle's
// names, e.g. "layers.0.self_attn.q_proj.weight"), as row-major float32 data
// with its shape. The model never opens files: package weights implements
// Source for safetensors and PyTorch .pt files, and tests implement it with
// maps.
type Source interface {
	// Has reports whether the tensor exists (a missing LayerNorm weight
	// defaults to ones and a missing bias to zeros; see spec §3).
	Has(name string) bool
	// Float32 returns the tensor converted to float32 (zero-copy when it
	// already is float32) and its shape. A missing name is an error.
	Float32(name string) (data []float32, shape []int, err error)
}

// Releaser is implemented by sources that can give back a tensor's memory
// once the model has copied it into a format of its own (package weights:
// the mapped pages of the file). The model calls Release for every weight it
// packs and does not reference afterwards. It is a hint, not a free: the
// tensor must stay readable.
type Releaser interface {
	Release(name string)
}
