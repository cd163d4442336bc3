//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

// useAVX512 selects the kernels of vec_amd64.s (AVX512F and DQ).
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// sumAVX512 returns Σ x[i] (i < n), accumulated in float64.
//
//go:noescape
func sumAVX512(x *float32, n int) float64

// sumSqDevAVX512 returns Σ (x[i] − mean)² (i < n), in float64.
//
//go:noescape
func sumSqDevAVX512(x *float32, n int, mean float64) float64

// geluMulAVX512 sets w[i] = GELU(w[i])·v[i] for i < n, 16 lanes at a time
// (see geluApprox for the approximation).
//
//go:noescape
func geluMulAVX512(w, v *float32, n int)

// affineSwishAVX512 sets dst[i] = swish(src[i]·s + t) for i < n.
//
//go:noescape
func affineSwishAVX512(dst, src *float32, n int, s, t float32)

func sumSIMD(x []float32) (float64, bool) {
	if !useAVX512 {
		return 0, false
	}
	if len(x) == 0 {
		return 0, true
	}
	return sumAVX512(&x[0], len(x)), true
}

func sumSqDevSIMD(x []float32, mean float64) (float64, bool) {
	if !useAVX512 {
		return 0, false
	}
	if len(x) == 0 {
		return 0, true
	}
	return sumSqDevAVX512(&x[0], len(x), mean), true
}

func geluMulSIMD(w, v []float32) bool {
	if !useAVX512 {
		return false
	}
	if len(w) > 0 {
		geluMulAVX512(&w[0], &v[0], len(w))
	}
	return true
}

func affineSwishSIMD(dst, src []float32, s, t float32) bool {
	if !useAVX512 {
		return false
	}
	if len(src) > 0 {
		affineSwishAVX512(&dst[0], &src[0], len(src), s, t)
	}
	return true
}
