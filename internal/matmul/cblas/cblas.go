//go:build openblas

// This file exists only in builds with -tags openblas; package matmul uses
// it as its OpenBLAS tier (cgo packages cannot hold Go assembly, so it
// cannot live in matmul itself).

package cblas

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
void openblas_set_num_threads(int);
char* openblas_get_corename(void);
*/
import "C"

// Sgemm computes C = alpha·op(A)·op(B) + beta·C, row-major, on `threads`
// OpenBLAS threads. The caller validates sizes; m, n, k > 0.
func Sgemm(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		ta = C.CblasTrans
	}
	if transB {
		tb = C.CblasTrans
	}
	C.openblas_set_num_threads(C.int(threads))
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.int(m), C.int(n), C.int(k),
		C.float(alpha), (*C.float)(&a[0]), C.int(lda), (*C.float)(&b[0]), C.int(ldb),
		C.float(beta), (*C.float)(&c[0]), C.int(ldc))
}

// CoreName is the CPU core OpenBLAS selected (from OPENBLAS_CORETYPE or
// its own detection).
func CoreName() string { return C.GoString(C.openblas_get_corename()) }
