//go:build !amd64 || purego

package tile

const useAsm = false

func gemm4x32AVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32) {
}

func gemm1x32AVX512(k int, a *float32, b *float32, ldb int, c *float32, beta *float32) {}

func expSubAVX512(s *float32, n int, m float32) float32 { return 0 }

func gemm4x32ATAVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32) {
}

func softmaxColsAVX512(s *float32, rows int, ld int, cols int, m *float32, l *float32, alpha *float32) {
}

func gemm8x32AVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32, panels int) {
}

func gemm8x32ATAVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32, panels int) {
}

func dotsAVX512(q *float32, d int, k *float32, ldk int, n int, out *float32) {}

func pv64AVX512(k int, p *float32, v *float32, ldv int, o *float32) {}

func packTAVX512(q *float32, idx *int32, d int, scale float32, dst *float32, ldd int) {}

func scaleToAVX512(dst *float32, src *float32, n int, f float32) {}

func scaleMaxAVX512(s *float32, n int, scale float32) float32 { return 0 }

// PeakKind says what PeakFMA measures on this machine.
func PeakKind() string {
	return "pure Go: 8 independent scalar float32 multiply-add chains"
}

// PeakFMA runs iters iterations of the FMA loop and returns the FLOPs done.
func PeakFMA(iters int) (flops float64, sink float32) { return peakGo(iters) }

// ReadSum sums s, streaming it once (8 scalar lanes).
func ReadSum(s []float32) float32 { return readSumGo(s) }
