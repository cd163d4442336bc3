//go:build !amd64 || purego

package matmul

// simdTiers: no assembly kernels in this build (not amd64, or the purego
// tag); only the gonum fallback is available.
func simdTiers() []*tierImpl { return nil }

// readSum is the read-bandwidth probe: Σ s.
func readSum(s []float32) float32 {
	var t float32
	for _, v := range s {
		t += v
	}
	return t
}
