// Package vec holds the float32 vector kernels that the networks of
// packages model, model/judge and model/vqgan share. Reductions, summed in
// float64 (vec.go):
//
//	Sum64(x)          = Σ_i x[i]
//	SumSqDev64(x, μ)  = Σ_i (x[i] − μ)²
//	MeanInvStd(x, ε)  = μ, 1/√(σ² + ε)               a LayerNorm row's or a GroupNorm group's statistics
//	LogSumExp64(x)    = m, log Σ_i e^(x[i] − m)      m = max_i x[i]
//
// and activations (act.go):
//
//	GELU(x)                  = 0.5·x·(1 + erf(x/√2)), in float64
//	GELUMul(w, v)            w[i] = GELU(w[i])·v[i]  (the GLU block of package model)
//	AffineSwish(y, x, s, t)  y[i] = swish(x[i]·s + t) (GroupNorm + swish, package model/vqgan)
//
// On AVX-512 machines (AVX512F and DQ, and without the purego build tag)
// Sum64 and SumSqDev64 run eight float64 lanes at a time, so they differ
// from their sequential loops (Sum64Plain, SumSqDev64Plain) only in the
// order of the float64 additions; GELUMul and AffineSwish run 16 float32
// lanes with a float32 exp and erf, within tested bounds of their loops
// with float64 erf and sigmoid (GELUMulPlain, AffineSwishPlain; the bounds
// are in act.go).
package vec

import "math"

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

// MeanInvStd returns the statistics of a LayerNorm row or a GroupNorm
// group x: its mean, Sum64(x)/n, and 1/√(σ² + eps) with the biased variance
// σ² = SumSqDev64(x, mean)/n, n = len(x), all in float64.
func MeanInvStd(x []float32, eps float32) (mean, inv float64) {
	n := float64(len(x))
	mean = Sum64(x) / n
	inv = 1 / math.Sqrt(SumSqDev64(x, mean)/n+float64(eps))
	return mean, inv
}

// LogSumExp64 returns log Σ_i e^(x[i]) in float64 as two parts, top =
// max_i x[i] and logSum = log Σ_i e^(x[i] − top), so that the caller can
// subtract them one at a time; the sum is top + logSum. A NaN in x gives
// NaN; an empty x gives −Inf, −Inf.
func LogSumExp64(x []float32) (top, logSum float64) {
	top = math.Inf(-1)
	for _, v := range x {
		top = max(top, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - top)
	}
	return top, math.Log(s)
}
