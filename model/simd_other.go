//go:build !amd64 || purego

package model

const useAVX512 = false

// geluMulSIMD reports that no SIMD kernel exists in this build.
func geluMulSIMD(w, v []float32) bool { return false }

func normAffineSIMD(y, x, w, b []float32, mean, inv float64) bool { return false }
