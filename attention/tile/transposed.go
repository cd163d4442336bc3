package tile

// Gemm4AT is Gemm4 with A stored transposed: A[r, p] = a[p*lda + r], so a
// 4×32 block of C = beta[r]·C + Aᵀ-stored block · B, the 4-row form of
// Gemm8AT (which the flash kernel uses for O = α·O + P·V with P kept as
// Pᵀ, keys × query rows).
func Gemm4AT(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, beta []float32) {
	if useAsm {
		_ = a[(k-1)*lda+3]
		_ = b[(k-1)*ldb+31]
		_ = c[3*ldc+31]
		gemm4x32ATAVX512(k, &a[0], lda, &b[0], ldb, &c[0], ldc, betaPtr(beta, 4))
		return
	}
	GemmGoAT(4, 32, k, a, lda, b, ldb, c, ldc, beta)
}

// GemmGoAT is the pure-Go Gemm4AT for any m×n block.
func GemmGoAT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, beta []float32) {
	for r := range m {
		cr := c[r*ldc : r*ldc+n]
		scaleRow(cr, beta, r)
		for p := range k {
			x := a[p*lda+r]
			if x == 0 {
				continue
			}
			Axpy(x, b[p*ldb:p*ldb+n], cr)
		}
	}
}

// SoftmaxCols does the online-softmax update of a transposed score block
// s (rows keys × cols query rows, row stride ld), column by column:
//
//	m'[r] = max(m[r], max_j s[j,r]);  alpha[r] = exp(m[r] − m'[r])
//	s[j,r] = exp(s[j,r] − m'[r]);     l[r] = l[r]·alpha[r] + Σ_j s[j,r];  m[r] = m'[r]
//
// The columns are independent, so the assembly does 16 of them per vector
// with no horizontal reductions.
func SoftmaxCols(s []float32, rows, ld, cols int, m, l, alpha []float32) {
	if rows == 0 || cols == 0 {
		return
	}
	_ = s[(rows-1)*ld+cols-1]
	_, _, _ = m[cols-1], l[cols-1], alpha[cols-1]
	c := 0
	if useAsm {
		c = cols &^ 15
		if c > 0 {
			softmaxColsAVX512(&s[0], rows, ld, c, &m[0], &l[0], &alpha[0])
		}
	}
	for ; c < cols; c++ {
		mx := m[c]
		for j := range rows {
			mx = max(mx, s[j*ld+c])
		}
		alpha[c] = Exp(m[c] - mx)
		var sum float32
		for j := range rows {
			e := Exp(s[j*ld+c] - mx)
			s[j*ld+c] = e
			sum += e
		}
		l[c] = l[c]*alpha[c] + sum
		m[c] = mx
	}
}

// Gemm8AT is Gemm8 with A stored transposed: A[r, q] = a[q*lda + r].
func Gemm8AT(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, beta []float32, panels int) {
	if panels <= 0 || k <= 0 {
		if panels > 0 {
			GemmGoAT(8, 32*panels, 0, a, lda, b, ldb, c, ldc, beta)
		}
		return
	}
	if useAsm {
		_ = a[(k-1)*lda+7]
		_ = b[(k-1)*ldb+32*panels-1]
		_ = c[7*ldc+32*panels-1]
		gemm8x32ATAVX512(k, &a[0], lda, &b[0], ldb, &c[0], ldc, betaPtr(beta, 8), panels)
		return
	}
	GemmGoAT(8, 32*panels, k, a, lda, b, ldb, c, ldc, beta)
}
