package vqgan

import "math"

// Elementwise kernels of GroupNorm + swish. Each dispatches to the AVX-512
// kernel of simd_amd64.s when the CPU has it and the build allows assembly
// (no purego tag), and otherwise runs the plain loop below it.
//
// The AVX-512 swish evaluates y = x·s + t (multiply and add rounded
// separately, as the plain loop) and then y/(1 + e^(−y)) in float32, with
// e^u by range reduction u = n·ln2 + r, a degree-5 minimax polynomial for
// e^r on |r| ≤ ln2/2 (Cephes expf) and VSCALEFPS for 2ⁿ; u is clamped to
// [−87.3, 88.8] (beyond it e^u is 0 or +Inf to float32 precision anyway).
// Its error against the plain float64-sigmoid loop is ≤ 4 ulp of the
// output (TestAffineSwishFast). The statistics kernels sum float32 values in
// float64 in 8 lanes, so they differ from the sequential loop only by the
// order of float64 additions.

// affineSwish sets dst[i] = swish(src[i]·s + t); dst may be src.
func affineSwish(dst, src []float32, s, t float32) {
	dst = dst[:len(src)]
	if affineSwishSIMD(dst, src, s, t) {
		return
	}
	affineSwishPlain(dst, src, s, t)
}

// affineSwishPlain is the plain version: sigmoid in float64 (swish).
func affineSwishPlain(dst, src []float32, s, t float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = swish(v*s + t)
	}
}

// sum64 returns Σ x[i] accumulated in float64.
func sum64(x []float32) float64 {
	if s, ok := sumSIMD(x); ok {
		return s
	}
	return sum64Plain(x)
}

func sum64Plain(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}

// sumSqDev64 returns Σ (x[i] − mean)² accumulated in float64.
func sumSqDev64(x []float32, mean float64) float64 {
	if s, ok := sumSqDevSIMD(x, mean); ok {
		return s
	}
	return sumSqDev64Plain(x, mean)
}

func sumSqDev64Plain(x []float32, mean float64) float64 {
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	return ss
}

// swish(x) = x·sigmoid(x) = x / (1 + e^(−x)); sigmoid in float64, product in
// float32 as PyTorch's h *= sigmoid(h).
func swish(x float32) float32 {
	return x * float32(1/(1+math.Exp(-float64(x))))
}
