// Package vec holds the float32-in, float64-accumulated reductions that
// LayerNorm (package model) and GroupNorm (package model/vqgan) share:
//
//	Sum64(x)          = Σ_i x[i]
//	SumSqDev64(x, μ)  = Σ_i (x[i] − μ)²
//
// both summed in float64. On AVX-512 machines (and without the purego build
// tag) they run eight float64 lanes at a time, so they differ from the
// sequential loops only in the order of the float64 additions.
package vec

// Sum64 returns Σ x[i] accumulated in float64.
func Sum64(x []float32) float64 {
	if s, ok := sumSIMD(x); ok {
		return s
	}
	return Sum64Plain(x)
}

// Sum64Plain is Sum64's sequential loop.
func Sum64Plain(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}

// SumSqDev64 returns Σ (x[i] − mean)² accumulated in float64.
func SumSqDev64(x []float32, mean float64) float64 {
	if s, ok := sumSqDevSIMD(x, mean); ok {
		return s
	}
	return SumSqDev64Plain(x, mean)
}

// SumSqDev64Plain is SumSqDev64's sequential loop.
func SumSqDev64Plain(x []float32, mean float64) float64 {
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	return ss
}
