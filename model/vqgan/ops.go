package vqgan

import (
	"math"
	"runtime"

	"github.com/tessella-ml/tessella/internal/matmul"
	"github.com/tessella-ml/tessella/internal/par"
	"github.com/tessella-ml/tessella/internal/vec"
)

// Every activation is a (C, H·W) row-major float32 map: element (c, y, x) at
// c·H·W + y·W + x, i.e. PyTorch's NCHW for one image.

// workspace holds the buffers Decode reuses across calls.
type workspace struct {
	col    []float32   // im2col strip (in·9, rows·W), grown on demand
	apack  []float32   // a 3×3 convolution's weight packed for its strips
	scores []float32   // attention score block (queries, N)
	free   [][]float32 // activation buffers not in use
}

// get returns a buffer of length n, reusing a free one when one is large
// enough. Its contents are arbitrary: every operation overwrites its output.
func (ws *workspace) get(n int) []float32 {
	best := -1
	for i, b := range ws.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(ws.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]float32, n)
	}
	b := ws.free[best]
	ws.free[best] = ws.free[len(ws.free)-1]
	ws.free = ws.free[:len(ws.free)-1]
	return b[:n]
}

// put returns a buffer obtained from get.
func (ws *workspace) put(b []float32) { ws.free = append(ws.free, b) }

// dropBelow forgets the free buffers shorter than n elements and returns how
// many bytes they held. Decode calls it when the resolution doubles: the
// smaller maps of the levels behind are not needed again in this call, and
// keeping them would hold every level's maps at once (measured for min-dalle
// before this: 185 MB kept after a decode, where the top level itself needs
// three of its 32 MiB maps and the im2col strip).
func (ws *workspace) dropBelow(n int) (bytes int) {
	kept := ws.free[:0]
	for _, b := range ws.free {
		if cap(b) < n {
			bytes += 4 * cap(b)
			continue
		}
		kept = append(kept, b)
	}
	clear(ws.free[len(kept):])
	ws.free = kept
	return bytes
}

// gcDropBytes is how many bytes of dropped workspace make Decode run the
// garbage collector (see workspace.dropBelow): the default model's maps are
// far below it, min-dalle's far above.
const gcDropBytes = 16 << 20

// grow returns buf resized to n, reallocating only when its capacity is short.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// run is the per-call state of one Decode: thread count and scratch bound.
type run struct {
	threads      int
	scratchElems int // float32 elements allowed in col / scores
	ws           *workspace
	eng          *matmul.Engine // r.threads-thread GEMM engine (see gemmEngine)
	one          *matmul.Engine // single-threaded GEMM engine (see serialGemm)
}

// gemmEngine returns an engine on the default tier limited to r.threads
// goroutines, so that VQGAN.Threads bounds the GEMMs too (the package-level
// matmul.Gemm would use matmul's own default thread count).
func (r *run) gemmEngine() *matmul.Engine {
	if r.eng == nil {
		e, err := matmul.NewEngine(matmul.Default().Tier(), r.threads)
		if err != nil { // the default tier is always available
			e = matmul.Default()
		}
		r.eng = e
	}
	return r.eng
}

// serialGemm returns a single-threaded engine on the default tier, for the
// GEMMs that run inside r.parallel, which already splits the work into
// r.threads goroutines; a multi-threaded engine would start its own on top
// (threads × threads goroutines), so Threads would not bound the total.
// Call it before r.parallel (it is not safe for concurrent first use).
func (r *run) serialGemm() *matmul.Engine {
	if r.one == nil {
		e, err := matmul.NewEngine(matmul.Default().Tier(), 1)
		if err != nil { // the default tier is always available
			e = matmul.Default()
		}
		r.one = e
	}
	return r.one
}

// parallel splits [0, n) into at most r.threads contiguous chunks and calls
// f(lo, hi) for each in its own goroutine.
func (r *run) parallel(n int, f func(lo, hi int)) {
	t := min(r.threads, n)
	if t <= 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	par.Run(t, func(i int) { f(i*n/t, (i+1)*n/t) })
}

func threadCount(t int) int {
	if t > 0 {
		return t
	}
	return runtime.GOMAXPROCS(0)
}

// gemmNN computes C (m×n, row stride ldc) = A (m×k, lda) · B (k×n, ldb) + C
// with one call on an r.threads-thread engine: matmul splits the work
// (row blocks × column panels) and packs B once for all its workers. Each
// output element sees the same k-order whatever the thread count.
func (r *run) gemmNN(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	r.gemmEngine().Gemm(false, false, m, n, k, 1, a, lda, b, ldb, 1, c, ldc)
}

// fillBias sets dst (out, n) to the per-row bias.
func fillBias(dst, bias []float32, n int) {
	for o, b := range bias {
		row := dst[o*n : (o+1)*n]
		for i := range row {
			row[i] = b
		}
	}
}

// conv1x1 computes dst (out, n) = W (out, in) · src (in, n) + b.
func (r *run) conv1x1(dst, src []float32, c *conv, n int) {
	fillBias(dst, c.b, n)
	r.gemmNN(c.out, n, c.in, c.w, c.in, src, n, dst, n)
}

// conv3x3 computes the 3×3, padding 1 convolution of src (in, h, w) into
// dst (out, h, w) as a GEMM per strip of output rows:
//
//	col (in·9, rows·w):  col[(ci·9 + ky·3 + kx), (y−y0)·w + x] = src[ci, y+ky−1, x+kx−1] (0 outside)
//	dst[:, y0·w : y1·w] = W (out, in·9) · col + b
//
// col is written straight in the GEMM's B-panel format (see
// matmul.Engine.GemmPanels: panels of nr output positions, each in·9 rows of
// nr floats), so the GEMM does not pack it again. The strip height is the
// largest that keeps col within r.scratchElems (at least one row); strips
// are made equal in height.
func (r *run) conv3x3(dst, src []float32, c *conv, h, w int) {
	hw := h * w
	kk := c.in * 9
	fillBias(dst, c.b, hw)
	eng := r.gemmEngine()
	nr := eng.PanelWidth()
	maxRows := max(1, r.scratchElems/(kk*w))
	strips := (h + maxRows - 1) / maxRows
	rows := (h + strips - 1) / strips
	r.ws.col = grow(r.ws.col, (rows*w+nr-1)/nr*kk*nr)
	// With several strips, W is packed for the GEMM once, not once a strip.
	var wa matmul.PackedA
	if strips > 1 {
		r.ws.apack = grow(r.ws.apack, eng.PackedASize(c.out, kk))
		wa = eng.PackA(r.ws.apack, c.w, kk, c.out, kk)
	}
	for y0 := 0; y0 < h; y0 += rows {
		y1 := min(h, y0+rows)
		n := (y1 - y0) * w
		np := (n + nr - 1) / nr
		col := r.ws.col[:np*kk*nr]
		r.parallel(np, func(lo, hi int) { im2colPanels(col, src, c.in, h, w, y0, n, nr, lo, hi) })
		if strips > 1 {
			eng.GemmPackedA(wa, n, 1, col, 1, dst[y0*w:], hw)
		} else {
			eng.GemmPanels(c.out, n, kk, 1, c.w, kk, col, 1, dst[y0*w:], hw)
		}
	}
}

// im2colPanels writes panels [jp0, jp1) of the strip's col (see conv3x3)
// for the n output positions q = (y−y0)·w + x starting at row y0: panel jp
// holds positions jp·nr … jp·nr+nr−1, col[jp·kk·nr + (ci·9+ky·3+kx)·nr + j]
// = src[ci, y+ky−1, x+kx−1] for q = jp·nr + j (0 outside the image and
// past n), kk = cin·9.
func im2colPanels(col, src []float32, cin, h, w, y0, n, nr, jp0, jp1 int) {
	kk := cin * 9
	for jp := jp0; jp < jp1; jp++ {
		panel := col[jp*kk*nr : (jp+1)*kk*nr]
		q0 := jp * nr
		cols := min(nr, n-q0)
		if cols < nr {
			clear(panel)
		}
		// A panel covers runs of positions, each within one image row.
		for q := q0; q < q0+cols; {
			y, x0 := y0+(q/w), q%w
			run := min(w-x0, q0+cols-q)
			off := q - q0
			for ci := range cin {
				plane := src[ci*h*w : (ci+1)*h*w]
				for ky := range 3 {
					base := panel[(ci*9+ky*3)*nr:]
					sy := y + ky - 1
					if sy < 0 || sy >= h {
						for kx := range 3 {
							clear(base[kx*nr+off : kx*nr+off+run])
						}
						continue
					}
					in := plane[sy*w : (sy+1)*w]
					for kx := range 3 {
						seg := base[kx*nr+off : kx*nr+off+run]
						// seg[i] = in[x0+i+kx−1] where 0 ≤ x0+i+kx−1 < w.
						lo := x0 + kx - 1
						if lo < 0 {
							seg[0] = 0
							seg, lo = seg[1:], 0
						}
						if hi := lo + len(seg); hi > w {
							seg[len(seg)-1] = 0
							seg = seg[:len(seg)-1]
						}
						copy(seg, in[lo:lo+len(seg)])
					}
				}
			}
			q += run
		}
	}
}

// groupNorm writes GroupNorm(src) to dst (both (c, n); dst may be src),
// followed by swish when withSwish. Mean and biased variance of each group
// of c/G channels × n positions are accumulated in float64 (two passes);
// then, like PyTorch's CPU kernel, each channel applies y = x·s + t in
// float32 with s = γ·rstd, t = β − s·mean, rstd = 1/√(var + ε).
func (r *run) groupNorm(dst, src []float32, g *groupNorm, n int, withSwish bool) {
	cg := g.c / g.groups
	r.parallel(g.groups, func(lo, hi int) {
		for gi := lo; gi < hi; gi++ {
			x := src[gi*cg*n : (gi+1)*cg*n]
			mean, inv := vec.MeanInvStd(x, g.eps)
			rstd := float32(inv)
			for j := range cg {
				ch := gi*cg + j
				s := g.w[ch] * rstd
				t := g.b[ch] - s*float32(mean)
				in := src[ch*n : (ch+1)*n]
				out := dst[ch*n : (ch+1)*n]
				if withSwish {
					vec.AffineSwish(out, in, s, t) // out = swish(in·s + t)
					continue
				}
				for i, v := range in {
					out[i] = v*s + t
				}
			}
		}
	})
}

// upsample2 writes the nearest-neighbour ×2 upsampling of src (c, h, w) to
// dst (c, 2h, 2w): dst[c, y, x] = src[c, y/2, x/2].
func (r *run) upsample2(dst, src []float32, c, h, w int) {
	r.parallel(c, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			for y := range 2 * h {
				in := src[(ci*h+y/2)*w:][:w]
				out := dst[(ci*2*h+y)*2*w:][:2*w]
				for x, v := range in {
					out[2*x] = v
					out[2*x+1] = v
				}
			}
		}
	})
}

// attention computes out (c, n) from q, k, v (each (c, n)), single head:
//
//	S[i, j] = (Σ_c q[c, i]·k[c, j]) / √c
//	P[i, :] = softmax(S[i, :])
//	out[c, i] = Σ_j v[c, j]·P[i, j]
//
// over blocks of query positions so that a block of S fits r.scratchElems.
func (r *run) attention(out, q, k, v []float32, c, n int) {
	rows := max(1, min(n, r.scratchElems/n))
	r.ws.scores = grow(r.ws.scores, rows*n)
	scale := float32(math.Sqrt(float64(c)))
	eng := r.serialGemm()
	for i0 := 0; i0 < n; i0 += rows {
		i1 := min(n, i0+rows)
		nb := i1 - i0
		s := r.ws.scores[:nb*n] // (nb, n)
		// S = q[:, i0:i1]ᵀ · k, split over query rows.
		r.parallel(nb, func(lo, hi int) {
			eng.Gemm(true, false, hi-lo, n, c, 1, q[i0+lo:], n, k, n, 0, s[lo*n:], n)
			for i := lo; i < hi; i++ {
				softmaxScaled(s[i*n:(i+1)*n], scale)
			}
		})
		// out[:, i0:i1] = v · Sᵀ, split over channels.
		r.parallel(c, func(lo, hi int) {
			eng.Gemm(false, true, hi-lo, nb, n, 1, v[lo*n:], n, s, n, 0, out[lo*n+i0:], n)
		})
	}
}

// softmaxScaled replaces row by softmax(row / div), as PyTorch computes it
// on the CPU: divide, subtract the maximum, exponentiate, multiply by the
// reciprocal of the sum (sum in float32).
func softmaxScaled(row []float32, div float32) {
	m := float32(math.Inf(-1))
	for i := range row {
		row[i] /= div
		m = max(m, row[i])
	}
	var sum float32
	for i, x := range row {
		e := float32(math.Exp(float64(x - m)))
		row[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range row {
		row[i] *= inv
	}
}

// add sets x += y.
func add(x, y []float32) {
	for i, v := range y {
		x[i] += v
	}
}
