// Package matmul is the one matrix-multiply interface the model uses.
//
// Linear layers keep their weight as nn.Linear stores it, W (N, K) row-major,
// and compute y (M, N) = x (M, K) · Wᵀ. Implementations may repack W once,
// at load time, into whatever panel format their kernel wants (NewLinear);
// Gemm serves convolutions (im2col) and anything else shaped like BLAS sgemm.
//
// The portable implementation is gonum's blas32 (pure Go).
package matmul

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Linear is a weight prepared for y = x·Wᵀ.
type Linear struct {
	N, K int       // output and input widths
	w    []float32 // (N, K) row-major, as nn.Linear.weight
}

// NewLinear prepares the (N, K) row-major weight w. It keeps a reference to
// w; the caller must not modify it afterwards.
func NewLinear(w []float32, n, k int) *Linear {
	if len(w) != n*k {
		panic("matmul: weight length does not match its shape") // programming error, shapes are validated at load
	}
	return &Linear{N: n, K: k, w: w}
}

// Weight returns the (N, K) row-major weight.
func (l *Linear) Weight() []float32 { return l.w }

// Forward computes y[0:m·N] = x[0:m·K] · Wᵀ (y is overwritten).
func (l *Linear) Forward(y, x []float32, m int) {
	Gemm(false, true, m, l.N, l.K, 1, x, l.K, l.w, l.K, 0, y, l.N)
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C, row-major, where op(X) is X
// or Xᵀ. C is m×n, op(A) m×k, op(B) k×n; lda, ldb, ldc are row strides.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	ar, ac := m, k
	if transA {
		ta, ar, ac = blas.Trans, k, m
	}
	br, bc := k, n
	if transB {
		tb, br, bc = blas.Trans, n, k
	}
	blas32.Gemm(ta, tb, alpha,
		blas32.General{Rows: ar, Cols: ac, Stride: lda, Data: a},
		blas32.General{Rows: br, Cols: bc, Stride: ldb, Data: b},
		beta,
		blas32.General{Rows: m, Cols: n, Stride: ldc, Data: c})
}
