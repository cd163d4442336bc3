//go:build !amd64 || purego

package model

// normAffineSIMD reports that no SIMD kernel exists in this build.
func normAffineSIMD(y, x, w, b []float32, mean, inv float64) bool { return false }
