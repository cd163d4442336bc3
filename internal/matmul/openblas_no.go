//go:build !openblas

package matmul

// hasOpenBLAS: no OpenBLAS in this build (build with -tags openblas, cgo).
const hasOpenBLAS = false

func gemmOpenBLAS(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("matmul: OpenBLAS tier used in a build without -tags openblas") // unreachable: Available(OpenBLAS) is false
}

// OpenBLASCore names the core OpenBLAS selected ("" without -tags openblas).
func OpenBLASCore() string { return "" }
