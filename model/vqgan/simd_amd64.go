//go:build amd64 && !purego

package vqgan

import "golang.org/x/sys/cpu"

// useAVX512 selects the AVX-512 kernels of simd_amd64.s (AVX512F and DQ;
// decided once at start-up from CPUID).
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// affineSwishAVX512 sets dst[i] = swish(src[i]·s + t) for i < n.
//
//go:noescape
func affineSwishAVX512(dst, src *float32, n int, s, t float32)

func affineSwishSIMD(dst, src []float32, s, t float32) bool {
	if !useAVX512 {
		return false
	}
	if len(src) > 0 {
		affineSwishAVX512(&dst[0], &src[0], len(src), s, t)
	}
	return true
}
