package tile

import "math"

// HasAsm reports whether the AVX-512 assembly paths are in use.
func HasAsm() bool { return useAsm }

// Gemm4 computes the 4×32 block C[0:4, 0:32] = beta[r]·C + A[0:4, 0:k]·B[0:k, 0:32].
// a, b and c start at the block's first element; beta is nil or has 4 entries.
// The caller guarantees the slices cover every element touched.
func Gemm4(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, beta []float32) {
	if useAsm {
		_ = a[3*lda+k-1]
		_ = b[(k-1)*ldb+31]
		_ = c[3*ldc+31]
		gemm4x32AVX512(k, &a[0], lda, &b[0], ldb, &c[0], ldc, betaPtr(beta, 4))
		return
	}
	GemmGo(4, 32, k, a, lda, b, ldb, c, ldc, beta)
}

// Gemm1 is Gemm4 for one row: c[0:32] = beta[0]·c + a[0:k]·B[0:k, 0:32].
func Gemm1(k int, a []float32, b []float32, ldb int, c []float32, beta []float32) {
	if useAsm {
		_ = a[k-1]
		_ = b[(k-1)*ldb+31]
		_ = c[31]
		gemm1x32AVX512(k, &a[0], &b[0], ldb, &c[0], betaPtr(beta, 1))
		return
	}
	GemmGo(1, 32, k, a, 0, b, ldb, c, 0, beta)
}

// betaPtr is the kernels' beta argument for a block of rows rows: nil, or
// &beta[0] once beta is known to hold rows entries.
func betaPtr(beta []float32, rows int) *float32 {
	if beta == nil {
		return nil
	}
	_ = beta[rows-1]
	return &beta[0]
}

// scaleRow sets row r of a C block, cr, to beta[r]·cr, or clears it when
// beta is nil (C overwritten, not read).
func scaleRow(cr, beta []float32, r int) {
	if beta == nil {
		clear(cr)
	} else if f := beta[r]; f != 1 {
		for j := range cr {
			cr[j] *= f
		}
	}
}

// GemmGo is the pure-Go micro-kernel for any m×n block: C = beta[r]·C + A·B.
// It is the reference the assembly is tested against and the fallback for
// blocks that are not 4×32 or 1×32. Rows are done 2 at a time with 2×4
// register blocks of accumulators.
func GemmGo(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, beta []float32) {
	for r := 0; r < m; r++ {
		scaleRow(c[r*ldc:r*ldc+n], beta, r)
	}
	r := 0
	for ; r+2 <= m; r += 2 {
		c0 := c[r*ldc : r*ldc+n]
		c1 := c[(r+1)*ldc : (r+1)*ldc+n]
		a0 := a[r*lda : r*lda+k]
		a1 := a[(r+1)*lda : (r+1)*lda+k]
		j := 0
		for ; j+4 <= n; j += 4 {
			var s00, s01, s02, s03, s10, s11, s12, s13 float32
			for p := range a0 {
				bp := b[p*ldb+j : p*ldb+j+4 : p*ldb+j+4]
				x0, x1 := a0[p], a1[p]
				b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
				s00 += x0 * b0
				s01 += x0 * b1
				s02 += x0 * b2
				s03 += x0 * b3
				s10 += x1 * b0
				s11 += x1 * b1
				s12 += x1 * b2
				s13 += x1 * b3
			}
			c0[j] += s00
			c0[j+1] += s01
			c0[j+2] += s02
			c0[j+3] += s03
			c1[j] += s10
			c1[j+1] += s11
			c1[j+2] += s12
			c1[j+3] += s13
		}
		for ; j < n; j++ {
			var s0, s1 float32
			for p := range a0 {
				bv := b[p*ldb+j]
				s0 += a0[p] * bv
				s1 += a1[p] * bv
			}
			c0[j] += s0
			c1[j] += s1
		}
	}
	for ; r < m; r++ {
		cr := c[r*ldc : r*ldc+n]
		ar := a[r*lda : r*lda+k]
		for p, x := range ar {
			bp := b[p*ldb : p*ldb+n]
			for j, bv := range bp {
				cr[j] += x * bv
			}
		}
	}
}

// ExpSub sets s[j] = exp(s[j] − m) and returns the float32 sum of the
// results. Intended for s[j] ≤ m (softmax); it is accurate for any s[j]−m ≤ 88.
func ExpSub(s []float32, m float32) float32 {
	var sum float32
	i := 0
	if useAsm && len(s) >= 16 {
		n16 := len(s) &^ 15
		sum = expSubAVX512(&s[0], n16, m)
		i = n16
	}
	for ; i < len(s); i++ {
		e := Exp(s[i] - m)
		s[i] = e
		sum += e
	}
	return sum
}

const (
	log2e  = 1.44269504088896341
	ln2Hi  = float32(0.693359375)
	ln2Lo  = float32(-2.12194440e-4)
	expMin = -86 // below: exactly 0 (true value < 4.5e-38); keeps results normal
)

// Exp is the scalar float32 exp the kernels use (same algorithm as the
// assembly): exactly 0 below −86 — no subnormal results, which would cost
// microcode assists in the vector code — and +Inf above 88.72.
func Exp(x float32) float32 {
	if x < expMin {
		return 0
	}
	if x > 88.72 {
		return float32(math.Inf(1))
	}
	n := float32(math.RoundToEven(float64(x * log2e)))
	r := x - n*ln2Hi
	r = r - n*ln2Lo
	p := float32(1.0 / 5040)
	p = p*r + 1.0/720
	p = p*r + 1.0/120
	p = p*r + 1.0/24
	p = p*r + 1.0/6
	p = p*r + 0.5
	p = p*r + 1
	p = p*r + 1
	return p * math.Float32frombits(uint32(int(n)+127)<<23)
}

// Max returns the largest element of s (−Inf for an empty s). NaNs are
// not propagated.
func Max(s []float32) float32 { return ScaleMax(s, 1) }

// ScaleMax multiplies s by scale in place and returns the largest element
// (−Inf for an empty s). NaNs are not propagated.
func ScaleMax(s []float32, scale float32) float32 {
	m0, m1, m2, m3 := float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))
	i := 0
	if useAsm && len(s) >= 16 {
		i = len(s) &^ 15
		m0 = scaleMaxAVX512(&s[0], i, scale)
	}
	if scale != 1 {
		for j := i; j < len(s); j++ {
			s[j] *= scale
		}
	}
	for ; i+4 <= len(s); i += 4 {
		v := s[i : i+4 : i+4]
		if v[0] > m0 {
			m0 = v[0]
		}
		if v[1] > m1 {
			m1 = v[1]
		}
		if v[2] > m2 {
			m2 = v[2]
		}
		if v[3] > m3 {
			m3 = v[3]
		}
	}
	for ; i < len(s); i++ {
		if s[i] > m0 {
			m0 = s[i]
		}
	}
	return max(m0, m1, m2, m3)
}

// Dot returns Σ a[i]·b[i] over len(a) elements (b must be at least as long),
// accumulated in 8 float32 lanes.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x := a[i : i+8 : i+8]
		y := b[i : i+8 : i+8]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
		s4 += x[4] * y[4]
		s5 += x[5] * y[5]
		s6 += x[6] * y[6]
		s7 += x[7] * y[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// Axpy sets y[i] += alpha·x[i] for i < len(y).
func Axpy(alpha float32, x, y []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		xv := x[i : i+4 : i+4]
		yv := y[i : i+4 : i+4]
		yv[0] += alpha * xv[0]
		yv[1] += alpha * xv[1]
		yv[2] += alpha * xv[2]
		yv[3] += alpha * xv[3]
	}
	for ; i < len(y); i++ {
		y[i] += alpha * x[i]
	}
}

// Gemm8 computes an 8×(32·panels) block, C = beta[r]·C + A[0:8, 0:k]·B[0:k, 0:32·panels],
// as panels 32-column panels in one call (16 accumulators: more independent
// FMA chains than Gemm4, which keeps both FMA pipes busy).
func Gemm8(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, beta []float32, panels int) {
	if panels <= 0 || k <= 0 {
		if panels > 0 {
			GemmGo(8, 32*panels, 0, a, lda, b, ldb, c, ldc, beta)
		}
		return
	}
	if useAsm {
		_ = a[7*lda+k-1]
		_ = b[(k-1)*ldb+32*panels-1]
		_ = c[7*ldc+32*panels-1]
		gemm8x32AVX512(k, &a[0], lda, &b[0], ldb, &c[0], ldc, betaPtr(beta, 8), panels)
		return
	}
	GemmGo(8, 32*panels, k, a, lda, b, ldb, c, ldc, beta)
}

// Dots sets out[j] = q · k[j*ldk : j*ldk+len(q)] for j < len(out): the
// scores of one query row against len(out) key rows (the decode kernel's
// first pass). The assembly needs len(q) to be a multiple of 16.
func Dots(q, k []float32, ldk int, out []float32) {
	n, d := len(out), len(q)
	if n == 0 || d == 0 {
		clear(out)
		return
	}
	_ = k[(n-1)*ldk+d-1]
	if useAsm && d%16 == 0 {
		dotsAVX512(&q[0], d, &k[0], ldk, n, &out[0])
		return
	}
	for j := range out {
		out[j] = Dot(q, k[j*ldk:j*ldk+d])
	}
}

// ScaleTo sets dst[i] = f·src[i] for i < len(dst).
func ScaleTo(dst, src []float32, f float32) {
	src = src[:len(dst)]
	i := 0
	if useAsm && len(dst) >= 16 {
		i = len(dst) &^ 15
		scaleToAVX512(&dst[0], &src[0], i, f)
	}
	for ; i+8 <= len(dst); i += 8 {
		s := src[i : i+8 : i+8]
		d := dst[i : i+8 : i+8]
		d[0], d[1], d[2], d[3] = s[0]*f, s[1]*f, s[2]*f, s[3]*f
		d[4], d[5], d[6], d[7] = s[4]*f, s[5]*f, s[6]*f, s[7]*f
	}
	for ; i < len(dst); i++ {
		dst[i] = src[i] * f
	}
}

// PackT writes the transpose of n rows of width d, scaled:
// dst[c*ldd + r] = scale·src[r*lds + c] for r < n, c < d. The assembly
// gathers 16 rows per instruction (lds·15 must fit in an int32).
func PackT(dst []float32, ldd int, src []float32, lds, n, d int, scale float32) {
	if n <= 0 || d <= 0 {
		return
	}
	_ = src[(n-1)*lds+d-1]
	_ = dst[(d-1)*ldd+n-1]
	r := 0
	if useAsm && lds <= math.MaxInt32/16 {
		var idx [16]int32
		for i := range idx {
			idx[i] = int32(i * lds)
		}
		for ; r+16 <= n; r += 16 {
			packTAVX512(&src[r*lds], &idx[0], d, scale, &dst[r], ldd)
		}
	}
	for ; r+4 <= n; r += 4 { // four rows at a time: 4 adjacent stores per channel
		q0, q1 := src[r*lds:r*lds+d], src[(r+1)*lds:(r+1)*lds+d]
		q2, q3 := src[(r+2)*lds:(r+2)*lds+d], src[(r+3)*lds:(r+3)*lds+d]
		for c := range d {
			o := dst[c*ldd+r : c*ldd+r+4 : c*ldd+r+4]
			o[0], o[1], o[2], o[3] = q0[c]*scale, q1[c]*scale, q2[c]*scale, q3[c]*scale
		}
	}
	for ; r < n; r++ {
		for c, v := range src[r*lds : r*lds+d] {
			dst[c*ldd+r] = v * scale
		}
	}
}

// PV sets o[c] = Σ_{j<len(p)} p[j]·v[j*ldv + c] for c < len(o): one query
// row's P·V (the decode kernel's second pass). The assembly handles o in
// 64-wide chunks, reading each V row's chunk once; the rest is Go.
func PV(p, v []float32, ldv int, o []float32) {
	k, d := len(p), len(o)
	if k == 0 {
		clear(o)
		return
	}
	_ = v[(k-1)*ldv+d-1]
	c := 0
	if useAsm {
		for ; c+64 <= d; c += 64 {
			pv64AVX512(k, &p[0], &v[c], ldv, &o[c])
		}
	}
	if c < d {
		GemmGo(1, d-c, k, p, 0, v[c:], ldv, o[c:], 0, nil)
	}
}
