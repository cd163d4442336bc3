package matmul

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Linear is a weight prepared for y = x·Wᵀ.
type Linear struct {
	N, K int     // output and input widths
	eng  *Engine // tier and threads
	w    []float32
	// packed holds Wᵀ in the tier's panel format when eng has a SIMD tier:
	// panel jp (output columns jp·nr … jp·nr+nr−1) is K rows of nr floats,
	// packed[jp·K·nr + p·nr + j] = W[jp·nr+j, p], zero past N. w is then nil.
	packed []float32
	// lp holds W in F16, BF16 or Q8 (lowp.go) for a Linear made by
	// NewLinearDType; w and packed are then nil.
	lp *lowp
}

// NewLinear prepares the (N, K) row-major weight w with the default engine.
// Shapes are validated at load, so a length mismatch is a programming error
// and panics.
func NewLinear(w []float32, n, k int) *Linear { return defaultEngine.NewLinear(w, n, k) }

// NewLinear prepares the (N, K) row-major weight w for this engine. With a
// SIMD tier it packs W once into the micro-kernel's panel format and keeps
// no reference to w; with Gonum it keeps a reference to w. Either way the
// caller must not modify w afterwards.
func (e *Engine) NewLinear(w []float32, n, k int) *Linear {
	if n < 0 || k < 0 || len(w) != n*k {
		panic(fmt.Sprintf("matmul: weight length %d does not match its shape (%d, %d)", len(w), n, k))
	}
	l := &Linear{N: n, K: k, eng: e}
	if e.impl == nil || n == 0 || k == 0 {
		l.w = w
		return l
	}
	nr := e.impl.nr
	np := (n + nr - 1) / nr
	l.packed = make([]float32, np*k*nr)
	threads := min(e.Threads(), np)
	per := (np + threads - 1) / threads
	runWorkers(threads, np, func(t int) {
		for jp := t * per; jp < min(np, (t+1)*per); jp++ {
			packPanel(l.packed[jp*k*nr:(jp+1)*k*nr], w, jp*nr, min(nr, n-jp*nr), k, nr)
		}
	})
	return l
}

// packPanel writes rows j0…j0+rows−1 of the (·, k) row-major w as one
// panel: dst[p·nr + j] = w[j0+j, p] (dst is zero past rows). It transposes
// in blocks of 8 k steps so that reads and writes stay in L1.
func packPanel(dst, w []float32, j0, rows, k, nr int) {
	const blk = 8
	for p0 := 0; p0 < k; p0 += blk {
		pn := min(blk, k-p0)
		for j := 0; j < rows; j++ {
			src := w[(j0+j)*k+p0 : (j0+j)*k+p0+pn]
			for q, v := range src {
				dst[(p0+q)*nr+j] = v
			}
		}
	}
}

// Threads is the number of goroutines Forward may use (its engine's).
func (l *Linear) Threads() int { return l.eng.Threads() }

// KeepsSource reports whether the Linear still references the slice it was
// made from (the Gonum tier, or an empty weight); otherwise it multiplies by
// its own packed or quantised copy and the caller may let the slice go.
func (l *Linear) KeepsSource() bool { return l.w != nil }

// Weight returns the (N, K) row-major weight. With a SIMD tier this is a
// fresh copy unpacked from the panels (so it is slow; not for hot loops);
// for F16/BF16/Q8 it is a fresh dequantised copy (what Forward multiplies by).
func (l *Linear) Weight() []float32 {
	if l.lp != nil {
		return l.lp.weight(l.N, l.K)
	}
	if l.packed == nil {
		return l.w
	}
	nr := l.eng.impl.nr
	w := make([]float32, l.N*l.K)
	for i := 0; i < l.N; i++ {
		jp, j := i/nr, i%nr
		src := l.packed[jp*l.K*nr:]
		for p := 0; p < l.K; p++ {
			w[i*l.K+p] = src[p*nr+j]
		}
	}
	return w
}

// Forward computes y[0:m·N] = x[0:m·K] · Wᵀ (y is overwritten).
func (l *Linear) Forward(y, x []float32, m int) {
	if m == 0 || l.N == 0 {
		return
	}
	checkMat("x", x, m, l.K, max(1, l.K))
	checkMat("y", y, m, l.N, l.N)
	if l.K == 0 {
		scaleC(m, l.N, 0, y, l.N)
		return
	}
	if l.lp != nil {
		l.lp.forward(l.eng, l.N, l.K, y, x, m)
		return
	}
	if l.packed == nil {
		l.eng.Gemm(false, true, m, l.N, l.K, 1, x, l.K, l.w, l.K, 0, y, l.N)
		return
	}
	l.eng.gemmSIMD(false, m, l.N, l.K, 1, x, l.K, bSource{packed: l.packed, pk: l.K}, 0, y, l.N, nil)
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C with the default engine,
// row-major, where op(X) is X or Xᵀ. C is m×n, op(A) m×k, op(B) k×n; lda,
// ldb, ldc are row strides. Like BLAS, inconsistent sizes (a slice too
// short, a stride smaller than its row) are programming errors and panic.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	defaultEngine.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gemm is the package-level Gemm on this engine.
func (e *Engine) Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("matmul: negative size m=%d n=%d k=%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMat("A", a, ar, ac, lda)
	checkMat("B", b, br, bc, ldb)
	checkMat("C", c, m, n, ldc)
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if e.tier == OpenBLAS {
		gemmOpenBLAS(e.Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if e.impl == nil {
		gemmGonum(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	e.gemmSIMD(transA, m, n, k, alpha, a, lda, bSource{raw: b, ldb: ldb, transB: transB}, beta, c, ldc, nil)
}

// PanelWidth is the number of columns nr in each B panel of GemmPanels:
// the SIMD tier's register block width, or 32 for tiers without panels.
func (e *Engine) PanelWidth() int {
	if e.impl == nil {
		return 32
	}
	return e.impl.nr
}

// GemmPanels computes C = alpha·A·B + beta·C (C m×n, A m×k with row
// stride lda) where B (k×n) comes already in the panel format of a
// Linear's packed weight: panel jp, columns jp·nr … jp·nr+nr−1 with
// nr = PanelWidth(), is k rows of nr floats at b[jp·k·nr:], b[jp·k·nr +
// p·nr + j] = B[p, jp·nr+j], zero past n. A caller that produces B itself
// (the rows of an im2col, say) writes it in this format and saves the
// packing pass Gemm would make. For m > 8 the products and their order are
// those of Gemm on the same B, so the results are identical; for m ≤ 8
// Gemm's raw-B path sums K in blocks of 32 and may round differently.
func (e *Engine) GemmPanels(m, n, k int, alpha float32, a []float32, lda int, b []float32, beta float32, c []float32, ldc int) {
	e.gemmPanels(m, n, k, alpha, a, lda, nil, b, beta, c, ldc)
}

// gemmPanels is GemmPanels, with A also given packed (apre, from PackA)
// when apre is not nil.
func (e *Engine) gemmPanels(m, n, k int, alpha float32, a []float32, lda int, apre, b []float32, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("matmul: negative size m=%d n=%d k=%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	nr := e.PanelWidth()
	np := (n + nr - 1) / nr
	checkMat("A", a, m, k, lda)
	checkMat("C", c, m, n, ldc)
	if len(b) < np*k*nr {
		panic(fmt.Sprintf("matmul: B has %d elements, %d panels of %d×%d need %d", len(b), np, k, nr, np*k*nr))
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if e.impl == nil {
		// No panel kernels: unpack B into a k×n matrix for Gemm.
		raw := getScratch(k * n)
		defer putScratch(raw)
		for jp := range np {
			cols := min(nr, n-jp*nr)
			for p := range k {
				copy(raw[p*n+jp*nr:p*n+jp*nr+cols], b[jp*k*nr+p*nr:])
			}
		}
		e.Gemm(false, false, m, n, k, alpha, a, lda, raw[:k*n], n, beta, c, ldc)
		return
	}
	e.gemmSIMD(false, m, n, k, alpha, a, lda, bSource{packed: b, pk: k}, beta, c, ldc, apre)
}

// PackedA is a matrix A (m×k) packed once for several GemmPackedA calls
// with different B — a convolution's weight, multiplied by one strip of
// im2col rows after another — so that A is not packed again by each call.
type PackedA struct {
	m, k, lda int
	a         []float32 // the source: used by tiers without packing and when m ≤ 8
	packed    []float32 // the blocked path's slivers (nil when not used)
}

// PackedASize is the length of the buffer PackA needs for an m×k matrix.
func (e *Engine) PackedASize(m, k int) int {
	// Not the blocked path, or row blocks that split slivers: A stays as it is.
	if e.impl == nil || m <= smallM && !e.noSmall || mcBlock%e.impl.mr != 0 {
		return 0
	}
	return (m + e.impl.mr - 1) / e.impl.mr * e.impl.mr * k
}

// PackA packs the m×k row-major a (row stride lda) into dst (at least
// PackedASize(m, k) long; reused, not allocated) for GemmPackedA on this
// engine. The PackedA refers to a and dst: neither may change while it is
// used. GemmPackedA gives bit for bit GemmPanels' result.
func (e *Engine) PackA(dst, a []float32, lda, m, k int) PackedA {
	if m < 0 || k < 0 {
		panic(fmt.Sprintf("matmul: negative size m=%d k=%d", m, k))
	}
	checkMat("A", a, m, k, lda)
	pa := PackedA{m: m, k: k, lda: lda, a: a}
	if need := e.PackedASize(m, k); need > 0 && k > 0 {
		if len(dst) < need {
			panic(fmt.Sprintf("matmul: PackA buffer of %d elements, %d×%d needs %d", len(dst), m, k, need))
		}
		pa.packed = dst[:need]
		packAllA(e.impl, pa.packed, a, lda, m, k, e.Threads())
	}
	return pa
}

// GemmPackedA is GemmPanels(m, n, k, alpha, A, lda, b, beta, c, ldc) with
// A given packed by PackA on this engine.
func (e *Engine) GemmPackedA(pa PackedA, n int, alpha float32, b []float32, beta float32, c []float32, ldc int) {
	e.gemmPanels(pa.m, n, pa.k, alpha, pa.a, pa.lda, pa.packed, b, beta, c, ldc)
}

// checkMat panics unless s holds a rows×cols matrix with row stride ld.
func checkMat(name string, s []float32, rows, cols, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("matmul: %s stride %d < %d columns", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("matmul: %s has %d elements, %d×%d with stride %d needs %d", name, len(s), rows, cols, ld, need))
	}
}

// gemmGonum is the portable implementation: gonum's native blas32.
func gemmGonum(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
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
