//go:build !amd64 || purego

package vec

const useAVX512 = false

// The SIMD entry points report that no kernel exists in this build.

func sumSIMD([]float32) (float64, bool)                     { return 0, false }
func sumSqDevSIMD([]float32, float64) (float64, bool)       { return 0, false }
func geluMulSIMD(w, v []float32) bool                       { return false }
func affineSwishSIMD(dst, src []float32, s, t float32) bool { return false }
