//go:build !amd64 || purego

package vec

func sumSIMD([]float32) (float64, bool)               { return 0, false }
func sumSqDevSIMD([]float32, float64) (float64, bool) { return 0, false }
