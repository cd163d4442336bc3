//go:build amd64 && !purego

package matmul

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:generate go run gen_lowp.go

// The reduced-precision small-M kernels (kernels_lowp_amd64.s, written by
// gen_lowp.go). Each multiplies mb rows of x by one block of weight rows
// (4 for F16 and BF16, 64 for Q8; the layouts are in lowp.go).

//go:noescape
func lowpF16M1(nc int, x *float32, ldx uintptr, w *byte, s *float32, y *float32, ldy uintptr)

//go:noescape
func lowpF16M2(nc int, x *float32, ldx uintptr, w *byte, s *float32, y *float32, ldy uintptr)

//go:noescape
func lowpF16M4(nc int, x *float32, ldx uintptr, w *byte, s *float32, y *float32, ldy uintptr)

//go:noescape
func lowpBF16M1(nc int, x *float32, ldx uintptr, w *byte, s *float32, y *float32, ldy uintptr)

//go:noescape
func lowpBF16M2(nc int, x *float32, ldx uintptr, w *byte, s *float32, y *float32, ldy uintptr)

//go:noescape
func lowpBF16M4(nc int, x *float32, ldx uintptr, w *byte, s *float32, y *float32, ldy uintptr)

//go:noescape
func lowpQ8M1(nc int, x *float32, ldx uintptr, w *byte, s *float32, y *float32, ldy uintptr)

//go:noescape
func lowpQ8M2(nc int, x *float32, ldx uintptr, w *byte, s *float32, y *float32, ldy uintptr)

//go:noescape
func lowpQ8M4(nc int, x *float32, ldx uintptr, w *byte, s *float32, y *float32, ldy uintptr)

type lowpKernel func(nc int, x *float32, ldx uintptr, w *byte, s *float32, y *float32, ldy uintptr)

// lowpKernels reports whether the fused kernels can run (they use
// AVX512VL for the 256-bit forms of the high registers).
var lowpKernels = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// lowpKerns[dt][g] is the kernel for 1, 2 or 4 x rows (g = 0, 1, 2).
var lowpKerns = [...][3]lowpKernel{
	F16:  {lowpF16M1, lowpF16M2, lowpF16M4},
	BF16: {lowpBF16M1, lowpBF16M2, lowpBF16M4},
	Q8:   {lowpQ8M1, lowpQ8M2, lowpQ8M4},
}

// gemv is the fused path: x is copied into rows of kp floats (zero
// padded), then each block of weight rows is streamed once for up to 4
// rows of x per kernel call; with m > 4 the later groups of x rows re-read
// the block from cache (4·kp codes, 8 KB of f16 for K = 1024; Q8 64·kp
// bytes, 64 KB). For m ≤ 8 (decode) this is memory-bound. Goroutines split
// the blocks.
func (lp *lowp) gemv(e *Engine, n, k int, y, x []float32, m int) {
	kp := lp.kp
	xp := getScratch(m * kp)
	defer putScratch(xp)
	for i := 0; i < m; i++ {
		copy(xp[i*kp:i*kp+k], x[i*k:(i+1)*k])
		clear(xp[i*kp+k : (i+1)*kp])
	}
	kerns := &lowpKerns[lp.dt]
	br := lp.br
	blockCodes := br * kp
	// One goroutine per ≥ 256 KB of weight streamed (counting each group
	// of 4 x rows): less is not worth the hand-off.
	workers := min(e.Threads(), lp.nb, max(1, lp.bytes()*((m+3)/4)>>18))
	per := (lp.nb + workers - 1) / workers
	runWorkers(workers, lp.nb, func(t int) {
		var tile []float32 // one kernel call's rows of a partial block
		for b := t * per; b < min(lp.nb, (t+1)*per); b++ {
			j0 := b * br
			full := j0+br <= n
			var w *byte
			var s *float32
			if lp.dt == Q8 {
				w = (*byte)(unsafe.Pointer(&lp.q[b*blockCodes]))
				s = &lp.s[b*blockCodes/lpChunk]
			} else {
				w = (*byte)(unsafe.Pointer(&lp.h[b*blockCodes]))
			}
			for i0 := 0; i0 < m; {
				g, mb := 0, 1
				switch {
				case m-i0 >= 4:
					g, mb = 2, 4
				case m-i0 >= 2:
					g, mb = 1, 2
				}
				if full {
					kerns[g](lp.nc, &xp[i0*kp], uintptr(kp*f32), w, s, &y[i0*n+j0], uintptr(n*f32))
				} else {
					if tile == nil { // (a scratch buffer: an array here would escape through kerns[g])
						tile = getScratch(4 * br)
					}
					kerns[g](lp.nc, &xp[i0*kp], uintptr(kp*f32), w, s, &tile[0], uintptr(br*f32))
					for i := 0; i < mb; i++ {
						copy(y[(i0+i)*n+j0:(i0+i)*n+n], tile[i*br:(i+1)*br])
					}
				}
				i0 += mb
			}
		}
		putScratch(tile) // (no defer: one in the loop above would be heap-allocated)
	})
}
