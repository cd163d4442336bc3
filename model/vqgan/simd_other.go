//go:build !amd64 || purego

package vqgan

const useAVX512 = false

// The SIMD entry points report that no kernel exists in this build.

func affineSwishSIMD(dst, src []float32, s, t float32) bool { return false }
