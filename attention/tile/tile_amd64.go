//go:build amd64 && !purego

package tile

import "golang.org/x/sys/cpu"

var useAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

//go:noescape
func gemm4x32AVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32)

//go:noescape
func gemm1x32AVX512(k int, a *float32, b *float32, ldb int, c *float32, beta *float32)

//go:noescape
func expSubAVX512(s *float32, n int, m float32) float32

//go:noescape
func scaleMaxAVX512(s *float32, n int, scale float32) float32

//go:noescape
func gemm4x32ATAVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32)

//go:noescape
func softmaxColsAVX512(s *float32, rows int, ld int, cols int, m *float32, l *float32, alpha *float32)

//go:noescape
func gemm8x32AVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32, panels int)

//go:noescape
func gemm8x32ATAVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32, panels int)

//go:noescape
func dotsAVX512(q *float32, d int, k *float32, ldk int, n int, out *float32)

//go:noescape
func pv64AVX512(k int, p *float32, v *float32, ldv int, o *float32)

//go:noescape
func packTAVX512(q *float32, idx *int32, d int, scale float32, dst *float32, ldd int)

//go:noescape
func scaleToAVX512(dst *float32, src *float32, n int, f float32)

//go:noescape
func fmaLoopAVX512(iters int) float32

//go:noescape
func readSumAVX512(p *float32, n int) float32

// PeakKind says what PeakFMA measures on this machine.
func PeakKind() string {
	if useAsm {
		return "AVX-512 assembly: 12 independent vfmadd231ps zmm chains (32 FLOP each)"
	}
	return "pure Go: 8 independent scalar float32 multiply-add chains"
}

// PeakFMA runs iters iterations of the FMA loop and returns the FLOPs done
// (and a value the caller should consume so the loop is not dead).
func PeakFMA(iters int) (flops float64, sink float32) {
	if useAsm {
		return float64(iters) * 12 * 32, fmaLoopAVX512(iters)
	}
	return peakGo(iters)
}

// ReadSum sums s, streaming it once (AVX-512 with 4 accumulators when
// available, else 8 scalar lanes); used to measure read bandwidth.
func ReadSum(s []float32) float32 {
	if useAsm && len(s) >= 64 {
		n := len(s) &^ 63
		r := readSumAVX512(&s[0], n)
		for _, v := range s[n:] {
			r += v
		}
		return r
	}
	return readSumGo(s)
}
