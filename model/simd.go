package model

import "math"

// Elementwise kernels of the GLU block. geluMul dispatches to the AVX-512
// kernel (simd_amd64.s) when the CPU has it and the build allows assembly
// (no purego tag); otherwise it runs geluMulExact.
//
// The AVX-512 kernel evaluates, in float32 (z = x/√2, a = |z|):
//
//	t = 1/(1 + p·a)
//	q = t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·exp(−a²)   ≈ erfc(a)
//	1 + erf(z) = 2 − q  (z ≥ 0),  q  (z < 0)
//	GELU(x) = 0.5·x·(1 + erf(z))
//
// with Abramowitz & Stegun 7.1.26's constants (|erf error| ≤ 1.5e-7, the
// approximation PyTorch's vectorised CPU erf uses) and exp by range
// reduction x = n·ln2 + r, Cephes expf's polynomial e^r ≈ 1 + r + r²·P₅(r) on
// |r| ≤ ln2/2 and VSCALEFPS for 2^n. Measured against the float64 formula
// its error is ≤ 3e-7·(1 + |x|) (TestGELUFastMatchesExact), i.e. within a
// few float32 ulps of the output's scale.

// Abramowitz & Stegun 7.1.26.
const (
	asP  = 0.3275911
	asA1 = 0.254829592
	asA2 = -0.284496736
	asA3 = 1.421413741
	asA4 = -1.453152027
	asA5 = 1.061405429
)

// geluMul sets w[i] = GELU(w[i])·v[i]; len(v) ≥ len(w).
func geluMul(w, v []float32) {
	v = v[:len(w)]
	if geluMulSIMD(w, v) {
		return
	}
	geluMulExact(w, v)
}

// geluMulExact is the plain version: GELU in float64 (gelu), product in float32.
func geluMulExact(w, v []float32) {
	v = v[:len(w)]
	for i := range w {
		w[i] = gelu(w[i]) * v[i]
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

// LayerNorm pieces. The statistics come from internal/vec (float64 sums,
// eight lanes on AVX-512); normAffine's kernel rounds exactly as the
// plain loop (float64 normalisation, one conversion, float32 multiply and
// add rounded separately).

// normAffine sets y[i] = float32((x[i] − mean)·inv)·w[i] + b[i]; y may be x;
// w and b are at least len(x) long.
func normAffine(y, x, w, b []float32, mean, inv float64) {
	y, w, b = y[:len(x)], w[:len(x)], b[:len(x)]
	if normAffineSIMD(y, x, w, b, mean, inv) {
		return
	}
	normAffinePlain(y, x, w, b, mean, inv)
}

func normAffinePlain(y, x, w, b []float32, mean, inv float64) {
	y, w, b = y[:len(x)], w[:len(x)], b[:len(x)]
	for i, v := range x {
		y[i] = float32((float64(v)-mean)*inv)*w[i] + b[i]
	}
}
