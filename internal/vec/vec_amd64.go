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
