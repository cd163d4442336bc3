//go:build !unix

package benchmarks

// cpuSeconds is not available on this system.
func cpuSeconds() float64 { return -1 }
