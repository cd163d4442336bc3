//go:build amd64 && !purego

package model

import "golang.org/x/sys/cpu"

// useAVX512 selects the AVX-512 kernel of simd_amd64.s (AVX512F and DQ;
// decided once at start-up from CPUID).
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// normAffineAVX512 sets y[i] = float32((x[i] − mean)·inv)·w[i] + b[i] for i < n.
//
//go:noescape
func normAffineAVX512(y, x, w, b *float32, n int, mean, inv float64)

func normAffineSIMD(y, x, w, b []float32, mean, inv float64) bool {
	if !useAVX512 {
		return false
	}
	if len(x) > 0 {
		normAffineAVX512(&y[0], &x[0], &w[0], &b[0], len(x), mean, inv)
	}
	return true
}
