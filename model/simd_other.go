//go:build !amd64 || purego

package model

const useAVX512 = false

// geluMulSIMD reports that no SIMD kernel exists in this build.
func geluMulSIMD(w, v []float32) bool { return false }

func sumSIMD(x []float32) (float64, bool) { return 0, false }

func sumSqDevSIMD(x []float32, mean float64) (float64, bool) { return 0, false }

func normAffineSIMD(y, x, w, b []float32, mean, inv float64) bool { return false }
