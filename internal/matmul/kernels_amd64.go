//go:build amd64 && !purego

package matmul

import "golang.org/x/sys/cpu"

// The assembly kernels (kernels_amd64.s). Strides are in bytes; see the
// comment at the top of the .s file for the addressing.

//go:noescape
func kern12x32(kc int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, alpha float32)

//go:noescape
func kern12x32p(kc int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, alpha float32)

//go:noescape
func kern4x32(kc int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, alpha float32)

//go:noescape
func kern6x16(kc int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, alpha float32)

func fmaLoop512(n int)
func fmaLoop256(n int)

//go:noescape
func readSum512(p *float32, n int) float32

// readSum is the read-bandwidth probe: Σ s.
func readSum(s []float32) float32 {
	n := len(s) &^ 127
	var t float32
	if n > 0 && cpu.X86.HasAVX512F {
		t = readSum512(&s[0], n)
		s = s[n:]
	}
	for _, v := range s {
		t += v
	}
	return t
}

// simdTiers lists the kernel tiers this CPU (and OS) can run.
func simdTiers() []*tierImpl {
	var ts []*tierImpl
	if cpu.X86.HasAVX512F {
		ts = append(ts, &tierImpl{
			tier: AVX512, mr: 12, nr: 32, kern: kern12x32, kernPacked: kern12x32p,
			smr: 4, small: kern4x32,
			fma: fmaLoop512, fmaFlop: 12 * 16 * 2,
		})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ts = append(ts, &tierImpl{
			tier: AVX2, mr: 6, nr: 16, kern: kern6x16,
			smr: 6, small: kern6x16,
			fma: fmaLoop256, fmaFlop: 12 * 8 * 2,
		})
	}
	return ts
}
