//go:build openblas

package matmul

import "github.com/tessella-ml/tessella/internal/matmul/cblas"

// hasOpenBLAS: this build links OpenBLAS through cgo (-tags openblas).
const hasOpenBLAS = true

func gemmOpenBLAS(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	cblas.Sgemm(threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// OpenBLASCore names the core OpenBLAS selected ("" without -tags openblas).
func OpenBLASCore() string { return cblas.CoreName() }
