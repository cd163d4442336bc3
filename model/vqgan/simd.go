package vqgan

import "math"

// Elementwise kernels of GroupNorm + swish. Each dispatches to the AVX-512
// kernel of simd_amd64.s when the CPU has it and the build allows assembly
// (no purego tag), and otherwise runs the plain loop below it.
//
// The AVX-512 swish evaluates y = x·s + t (multiply and add rounded
// separately, as the plain loop) and then y/(1 + e^(−y)) in float32, with
// e^u by range reduction u = n·ln2 + r, Cephes expf's polynomial
// e^r ≈ 1 + r + r²·P₅(r) on |r| ≤ ln2/2 and VSCALEFPS for 2ⁿ; u is clamped to
// [−87.3, 88.8] (beyond it e^u is 0 or +Inf to float32 precision anyway).
// Its error against the plain float64-sigmoid loop is ≤ 4 ulp of the
// output (TestAffineSwishFast). The group statistics come from
// internal/vec.

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

// swish(x) = x·sigmoid(x) = x / (1 + e^(−x)); sigmoid in float64, product in
// float32 as PyTorch's h *= sigmoid(h).
func swish(x float32) float32 {
	return x * float32(1/(1+math.Exp(-float64(x))))
}
