package vec

import "math"

// Activation kernels. GELUMul and AffineSwish dispatch to the AVX-512
// kernels of vec_amd64.s when the CPU has them and the build allows
// assembly (no purego tag); otherwise they run their Plain loops.
//
// Both kernels evaluate e^u in float32 by range reduction u = n·ln2 + r,
// Cephes expf's polynomial e^r ≈ 1 + r + r²·P₅(r) on |r| ≤ ln2/2 and
// VSCALEFPS for 2ⁿ (one macro, EXP_Z6, serves both).
//
// GELUMul's kernel evaluates, in float32 (z = x/√2, a = |z|):
//
//	t = 1/(1 + p·a)
//	q = t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·exp(−a²)   ≈ erfc(a)
//	1 + erf(z) = 2 − q  (z ≥ 0),  q  (z < 0)
//	GELU(x) = 0.5·x·(1 + erf(z))
//
// with Abramowitz & Stegun 7.1.26's constants (|erf error| ≤ 1.5e-7, the
// approximation PyTorch's vectorised CPU erf uses). Measured against the
// float64 formula its error is ≤ 3e-7·(1 + |x|) (TestGELUFastMatchesExact),
// i.e. within a few float32 ulps of the output's scale.
//
// AffineSwish's kernel evaluates y = x·s + t (multiply and add rounded
// separately, as the plain loop) and then y/(1 + e^(−y)) in float32, with
// −y clamped to [−87.3, 88.8] (beyond it e^u is 0 or +Inf to float32
// precision anyway). Its error against the plain float64-sigmoid loop is
// ≤ 4 ulp of the output (TestAffineSwishFast).

// Abramowitz & Stegun 7.1.26.
const (
	asP  = 0.3275911
	asA1 = 0.254829592
	asA2 = -0.284496736
	asA3 = 1.421413741
	asA4 = -1.453152027
	asA5 = 1.061405429
)

// GELU is the exact erf GELU, 0.5·x·(1 + erf(x/√2)), evaluated in float64.
func GELU(x float32) float32 {
	v := float64(x)
	return float32(0.5 * v * (1 + math.Erf(v/math.Sqrt2)))
}

// GELUMul sets w[i] = GELU(w[i])·v[i]; len(v) ≥ len(w).
func GELUMul(w, v []float32) {
	v = v[:len(w)]
	if geluMulSIMD(w, v) {
		return
	}
	GELUMulPlain(w, v)
}

// GELUMulPlain is GELUMul's plain loop: GELU in float64, product in float32.
func GELUMulPlain(w, v []float32) {
	v = v[:len(w)]
	for i := range w {
		w[i] = GELU(w[i]) * v[i]
	}
}

// geluApprox is the scalar float64 model of the AVX-512 kernel's formula
// (the same approximation, without float32 rounding), used by the tests to
// separate the approximation error from rounding.
func geluApprox(x float64) float64 {
	z := x / math.Sqrt2
	a := math.Abs(z)
	t := 1 / (1 + asP*a)
	q := t * (asA1 + t*(asA2+t*(asA3+t*(asA4+t*asA5)))) * math.Exp(-a*a)
	e := 2 - q
	if z < 0 {
		e = q
	}
	return 0.5 * x * e
}

// AffineSwish sets dst[i] = swish(src[i]·s + t); dst may be src.
func AffineSwish(dst, src []float32, s, t float32) {
	dst = dst[:len(src)]
	if affineSwishSIMD(dst, src, s, t) {
		return
	}
	AffineSwishPlain(dst, src, s, t)
}

// AffineSwishPlain is AffineSwish's plain loop: sigmoid in float64 (swish).
func AffineSwishPlain(dst, src []float32, s, t float32) {
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
