// Package tile holds the inner loops of the attention kernels: an AVX-512
// assembly version of each (amd64, selected at run time with
// golang.org/x/sys/cpu: AVX512F and AVX512DQ) and a pure-Go version that is
// the reference in the tests and the fallback everywhere else (the build tag
// purego forces it; the tests pass both ways).
//
// Matrix micro-kernels, all computing a block
//
//	C[r, 0:n] = beta[r]·C[r, 0:n] + Σ_{p<k} A[r, p] · B[p, 0:n]
//
// with row strides lda, ldb, ldc in elements and beta == nil meaning C is
// overwritten (not read):
//
//	Gemm8   8 rows × 32·panels columns, 16 zmm accumulators (VFMADD231PS), A row-major
//	Gemm8AT the same with A stored transposed, A[r, p] = a[p*lda + r]
//	Gemm4, Gemm4AT, Gemm1   4 / 1 rows × 32 columns (8 / 2+2 accumulators)
//	GemmGo, GemmGoAT        pure Go, any block size
//
// The flash kernel uses Gemm8 for Sᵀ = K·Qᵀ and Gemm8AT for O = α·O + P·V
// (P kept as Pᵀ, beta = the online-softmax rescale factors α).
//
// Softmax pieces: Exp (scalar) and ExpSub (vector, s[j] = exp(s[j] − m),
// returns the sum) use a Cody–Waite range reduction to r ∈ [−ln2/2, ln2/2],
// a degree-7 Taylor polynomial (truncation error < 1e-8 relative) and a
// scaling by 2ⁿ (VSCALEFPS); arguments below −86 give exactly 0 (the true
// value is < 4.5e-38), so no subnormal is ever produced — subnormal results
// cost microcode assists, which made masked scores several times slower;
// tested against math.Exp to 4e-7 relative. SoftmaxCols is the column-wise online-softmax
// update of a transposed score block (16 query rows per vector, no
// horizontal reductions). ScaleMax, Max, ScaleTo are the obvious loops.
//
// Decode pieces: Dots (one query row against n key rows, with a prefetch 8
// rows ahead) and PV (one row of P·V, 64 channels per pass over V).
// PackT transposes and scales a block of query rows (one VGATHERDPS per
// channel for 16 rows).
//
// PeakFMA and ReadSum exist for the benchmark's environment block: PeakFMA
// runs a register-only loop of 12 independent zmm FMA chains (scalar Go
// without AVX-512; PeakKind says which), ReadSum streams a slice.
package tile
