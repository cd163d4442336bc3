package matmul

import (
	"sync"
	"sync/atomic"

	"github.com/tessella-ml/tessella/internal/par"
)

// Blocking parameters (floats). KC·nr·4 B = 32 KB: the B micro-panel of
// the 12×32 kernel stays in the 48 KB L1 while A slivers stream from L2;
// an MC×KC block of A is 192 KB, well inside the 1 MB L2; the packed B
// block (KC × n) lives in L2/L3.
const (
	kcBlock = 256
	mcBlock = 192
	smallM  = 8 // m ≤ smallM uses the streaming small-M path

	// Small-M path over a raw K×N B: blocks of nnChunk panels × nnKB rows
	// (8 KB of each of 32 rows with the 32-wide panels: a 256 KB block).
	// Chosen by measurement on (2, 16385, 1024): 2–3× faster than one
	// panel over the whole k, which reads 128 B per row, one page each.
	nnChunk = 64
	nnKB    = 32
)

// bSource is op(B): either a Linear's pre-packed panels or a raw matrix.
type bSource struct {
	packed []float32 // panels of pk rows × nr, see Linear
	pk     int

	raw    []float32 // k×n (or n×k if transB), row stride ldb
	ldb    int
	transB bool
}

const f32 = 4 // bytes per float32

// gemmSIMD runs C = alpha·op(A)·op(B) + beta·C on the engine's SIMD tier.
// Sizes are validated by the caller; m, n > 0. apre, when not nil, is A
// packed by PackA, whose size rule sends it down the blocked path.
func (e *Engine) gemmSIMD(transA bool, m, n, k int, alpha float32, a []float32, lda int, bs bSource, beta float32, c []float32, ldc int, apre []float32) {
	scaleC(m, n, beta, c, ldc)
	if alpha == 0 || k == 0 {
		return
	}
	threads := e.Threads()
	if apre == nil && m <= smallM && (bs.packed != nil || !bs.transB) && !e.noSmall {
		e.smallPath(transA, m, n, k, alpha, a, lda, bs, c, ldc, threads)
		return
	}
	e.blocked(transA, m, n, k, alpha, a, lda, bs, c, ldc, threads, apre)
}

// scaleC sets C = beta·C (beta = 0 clears, so NaNs in C do not survive).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// runWorkers runs f(worker) on min(threads, tasks) goroutines (inline for
// one) and waits; the goroutines come from package par's spinning pool.
func runWorkers(threads, tasks int, f func(w int)) {
	par.Run(min(threads, tasks), f)
}

// sliver is mr rows of op(A) over one k block: row r, step p at
// p0 + r·rs + p·ks bytes.
type sliver struct {
	p      *float32
	rs, ks uintptr
	i      int // first row
	rows   int
	small  bool // a tail of ≤ smr rows, run by the small kernel
}

// blocked is the BLIS-style path: for each KC block of k, pack B (unless
// pre-packed), then goroutines take (MC rows × panel range) tiles and run
// the micro-kernel over every mr×nr tile, jr outer and ir inner.
//
// apre, when not nil, is op(A) already packed by packAllA (PackA): the
// slivers are read from it and a is not used.
func (e *Engine) blocked(transA bool, m, n, k int, alpha float32, a []float32, lda int, bs bSource, c []float32, ldc, threads int, apre []float32) {
	ti := e.impl
	mr, nr := ti.mr, ti.nr
	np := (n + nr - 1) / nr
	mb := (m + mcBlock - 1) / mcBlock
	nch := 1
	if threads > 1 && mb < 2*threads {
		nch = min(np, (2*threads+mb-1)/mb)
	}
	chunk := (np + nch - 1) / nch
	nch = (np + chunk - 1) / chunk
	ntasks := mb * nch

	// Pack A when many panels reuse it (measured: 1.05–1.45× on
	// 1024×1024×1024 and 128×1024×2730, but 0.4–0.6× on 4096×128×1152,
	// where only 4 panels amortise the scalar packing, and ≈ 0.95× at m = 64).
	packAll := e.packA || (np >= 16 && m >= 128)
	// When several tasks share a row block (nch > 1), its A slivers are
	// packed once per k block, before the tasks, instead of by every task.
	// (Row blocks of mcBlock rows hold whole slivers: mcBlock % mr == 0.)
	shareA := apre != nil || packAll && nch > 1 && mcBlock%mr == 0
	var ashared []float32
	nsl := (m + mr - 1) / mr
	if shareA && apre == nil {
		ashared = getScratch(nsl * mr * min(k, kcBlock))
		defer putScratch(ashared)
	}
	var bbuf []float32
	if bs.packed == nil {
		bbuf = getScratch(np * min(k, kcBlock) * nr)
		defer putScratch(bbuf)
	}
	ws := make([][]float32, threads) // per-worker A packing + tile scratch
	defer func() {
		for _, b := range ws {
			putScratch(b)
		}
	}()
	// kern picks the packed-operand kernel for a packed full sliver.
	kern := func(s sliver) kernel {
		if ti.kernPacked != nil && s.rs == f32 && s.ks == uintptr(mr*f32) {
			return ti.kernPacked
		}
		return ti.kern
	}
	for pc := 0; pc < k; pc += kcBlock {
		kc := min(kcBlock, k-pc)
		bp, pstride, boff := bs.packed, bs.pk*nr, pc*nr
		if bs.packed == nil {
			bp, pstride, boff = bbuf, kc*nr, 0
			runWorkers(threads, np, func(w int) {
				per := (np + min(threads, np) - 1) / min(threads, np)
				jp0, jp1 := w*per, min(np, (w+1)*per)
				if !bs.transB {
					packBRows(bbuf, bs, pc, kc, jp0, jp1, n, nr)
					return
				}
				for jp := jp0; jp < jp1; jp++ {
					packB(bbuf[jp*kc*nr:(jp+1)*kc*nr], bs, pc, kc, jp*nr, min(nr, n-jp*nr), nr)
				}
			})
		}
		ablk := ashared // this k block's slivers, sliver g at g·mr·kc
		switch {
		case apre != nil:
			ablk = apre[pc*nsl*mr:]
		case shareA:
			runWorkers(threads, nsl, func(w int) {
				for g := w; g < nsl; g += min(threads, nsl) {
					packSliver(ti, ashared, a, lda, transA, m, g, pc, kc)
				}
			})
		}
		var next atomic.Int64
		runWorkers(threads, ntasks, func(w int) {
			need := mr * nr // the edge tile, plus the task's own A slivers unless shared
			if !shareA {
				need += ((mcBlock + mr - 1) / mr) * mr * kcBlock
			}
			if len(ws[w]) < need {
				putScratch(ws[w])
				ws[w] = getScratch(need)
			}
			tile, apack := ws[w][:mr*nr], ws[w][mr*nr:]
			var sl [mcBlock]sliver
			for {
				t := int(next.Add(1)) - 1
				if t >= ntasks {
					return
				}
				ib, ch := t/nch, t%nch
				i0, i1 := ib*mcBlock, min(m, (ib+1)*mcBlock)
				// A slivers of this block.
				ns := 0
				for i := i0; i < i1; i += mr {
					rows := min(mr, i1-i)
					s := &sl[ns]
					s.i, s.rows, s.small = i, rows, false
					switch {
					case shareA:
						dst := ablk[(i/mr)*mr*kc:]
						s.p, s.rs, s.ks = &dst[0], f32, uintptr(mr*f32)
						if rows <= ti.smr && ti.smr < mr {
							s.ks, s.small = uintptr(ti.smr*f32), true
						}
					case rows <= ti.smr && ti.smr < mr:
						// A short tail: the small kernel wastes fewer FMAs.
						dst := apack[ns*mr*kc : ns*mr*kc+ti.smr*kc]
						packA(dst, a, lda, transA, i, rows, pc, kc, ti.smr)
						s.p, s.rs, s.ks, s.small = &dst[0], f32, uintptr(ti.smr*f32), true
					case rows == mr && !packAll && !transA:
						s.p, s.rs, s.ks = &a[i*lda+pc], uintptr(lda*f32), f32
					case rows == mr && !packAll && transA:
						s.p, s.rs, s.ks = &a[pc*lda+i], f32, uintptr(lda*f32)
					default:
						dst := apack[ns*mr*kc : (ns+1)*mr*kc]
						packA(dst, a, lda, transA, i, rows, pc, kc, mr)
						s.p, s.rs, s.ks = &dst[0], f32, uintptr(mr*f32)
					}
					ns++
				}
				for jp := ch * chunk; jp < min(np, (ch+1)*chunk); jp++ {
					j0 := jp * nr
					cols := min(nr, n-j0)
					bptr := &bp[jp*pstride+boff]
					for _, s := range sl[:ns] {
						if s.small {
							if s.rows == ti.smr && cols == nr {
								ti.small(kc, s.p, s.rs, s.ks, bptr, uintptr(nr*f32), &c[s.i*ldc+j0], uintptr(ldc*f32), alpha)
								continue
							}
							clear(tile)
							ti.small(kc, s.p, s.rs, s.ks, bptr, uintptr(nr*f32), &tile[0], uintptr(nr*f32), 1)
							addTile(c, ldc, s.i, j0, s.rows, cols, tile, nr, alpha)
							continue
						}
						if s.rows == mr && cols == nr {
							kern(s)(kc, s.p, s.rs, s.ks, bptr, uintptr(nr*f32), &c[s.i*ldc+j0], uintptr(ldc*f32), alpha)
							continue
						}
						clear(tile)
						kern(s)(kc, s.p, s.rs, s.ks, bptr, uintptr(nr*f32), &tile[0], uintptr(nr*f32), 1)
						addTile(c, ldc, s.i, j0, s.rows, cols, tile, nr, alpha)
					}
				}
			}
		})
	}
}

// packSliver packs sliver g (rows g·mr … g·mr+mr−1 of op(A), k steps
// pc … pc+kc−1) at dst[g·mr·kc:], as mr-row groups, or as smr-row groups
// when it is a tail of at most smr rows that the small kernel runs.
func packSliver(ti *tierImpl, dst, a []float32, lda int, transA bool, m, g, pc, kc int) {
	mr := ti.mr
	i := g * mr
	rows := min(mr, m-i)
	pmr := mr
	if rows <= ti.smr && ti.smr < mr {
		pmr = ti.smr
	}
	packA(dst[g*mr*kc:g*mr*kc+pmr*kc], a, lda, transA, i, rows, pc, kc, pmr)
}

// packAllA packs all of A (m×k, not transposed) for blocked's apre: k
// block pc (kcBlock wide) at dst[pc·nsl·mr:], its sliver g at
// + g·mr·kc, nsl = ⌈m/mr⌉. dst holds nsl·mr·k floats.
func packAllA(ti *tierImpl, dst, a []float32, lda, m, k, threads int) {
	nsl := (m + ti.mr - 1) / ti.mr
	nkb := (k + kcBlock - 1) / kcBlock
	runWorkers(threads, nsl*nkb, func(w int) {
		for t := w; t < nsl*nkb; t += min(threads, nsl*nkb) {
			pc := (t / nsl) * kcBlock
			packSliver(ti, dst[pc*nsl*ti.mr:], a, lda, false, m, t%nsl, pc, min(kcBlock, k-pc))
		}
	})
}

// addTile adds alpha·tile[0:rows, 0:cols] (row stride nr) into C at (i0, j0).
func addTile(c []float32, ldc, i0, j0, rows, cols int, tile []float32, nr int, alpha float32) {
	for r := 0; r < rows; r++ {
		dst := c[(i0+r)*ldc+j0 : (i0+r)*ldc+j0+cols]
		src := tile[r*nr : r*nr+cols]
		for j, v := range src {
			dst[j] += alpha * v
		}
	}
}

// packA writes rows i0…i0+rows−1 of op(A), k steps pc…pc+kc−1, as kc
// groups of mr floats (dst[p·mr + r]), zero-padding rows ≥ rows.
func packA(dst, a []float32, lda int, transA bool, i0, rows, pc, kc, mr int) {
	if rows < mr {
		clear(dst[:kc*mr])
	}
	if !transA && rows == 12 && mr == 12 {
		packA12(dst[:kc*12], a, lda, i0, pc, kc)
		return
	}
	if !transA {
		for r := 0; r < rows; r++ {
			src := a[(i0+r)*lda+pc : (i0+r)*lda+pc+kc]
			for p, v := range src {
				dst[p*mr+r] = v
			}
		}
		return
	}
	for p := 0; p < kc; p++ {
		copy(dst[p*mr:p*mr+rows], a[(pc+p)*lda+i0:(pc+p)*lda+i0+rows])
	}
}

// packA12 is packA for 12 full rows, not transposed: one k step (12
// values, one per row) per iteration, so the writes are sequential and the
// 12 row reads are 12 sequential streams. Measured 1024×1024 A block:
// see BenchmarkPackA.
func packA12(dst, a []float32, lda, i0, pc, kc int) {
	row := func(r int) []float32 { return a[(i0+r)*lda+pc : (i0+r)*lda+pc+kc] }
	r0, r1, r2, r3, r4, r5 := row(0), row(1), row(2), row(3), row(4), row(5)
	r6, r7, r8, r9, r10, r11 := row(6), row(7), row(8), row(9), row(10), row(11)
	for p := range kc {
		d := (*[12]float32)(dst[p*12 : p*12+12])
		d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
		d[6], d[7], d[8], d[9], d[10], d[11] = r6[p], r7[p], r8[p], r9[p], r10[p], r11[p]
	}
}

// packB writes columns j0…j0+cols−1 of op(B), rows pc…pc+kc−1, as kc rows
// of nr floats (dst[p·nr + j]), zero-padding columns ≥ cols.
func packB(dst []float32, bs bSource, pc, kc, j0, cols, nr int) {
	if cols < nr {
		clear(dst[:kc*nr])
	}
	b, ldb := bs.raw, bs.ldb
	if !bs.transB {
		for p := 0; p < kc; p++ {
			copy(dst[p*nr:p*nr+cols], b[(pc+p)*ldb+j0:(pc+p)*ldb+j0+cols])
		}
		return
	}
	for j := 0; j < cols; j++ {
		src := b[(j0+j)*ldb+pc : (j0+j)*ldb+pc+kc]
		for p, v := range src {
			dst[p*nr+j] = v
		}
	}
}

// packBRows packs panels jp0…jp1−1 of a raw, not transposed B (rows
// pc…pc+kc−1) into dst (panel jp at jp·kc·nr), walking B row by row so
// that each row segment is read contiguously.
func packBRows(dst []float32, bs bSource, pc, kc, jp0, jp1, n, nr int) {
	if jp1 <= jp0 {
		return
	}
	b, ldb := bs.raw, bs.ldb
	full := jp1
	if jp1*nr > n { // the last panel is partial: zero its padding once
		full = jp1 - 1
		clear(dst[full*kc*nr : jp1*kc*nr])
	}
	for p := 0; p < kc; p++ {
		row := b[(pc+p)*ldb : (pc+p)*ldb+n]
		for jp := jp0; jp < full; jp++ {
			copy(dst[jp*kc*nr+p*nr:jp*kc*nr+p*nr+nr], row[jp*nr:jp*nr+nr])
		}
		if full < jp1 {
			copy(dst[full*kc*nr+p*nr:], row[full*nr:n])
		}
	}
}

// smallPath is the decode path (m ≤ smallM): op(A) is packed into groups
// of smr rows (tiny), and each nr-wide panel of B is streamed once by the
// small kernel, panel after panel; goroutines split the panels. Pre-packed
// panels are streamed over the whole k in one call. A raw (not transposed)
// B is read in place, rows ldb apart, in blocks of nnChunk panels ×
// nnKB rows, so that each B row is read as one contiguous nnChunk·nr run
// (few pages, long DRAM bursts) instead of one nr-float piece per page.
func (e *Engine) smallPath(transA bool, m, n, k int, alpha float32, a []float32, lda int, bs bSource, c []float32, ldc, threads int) {
	ti := e.impl
	smr, nr := ti.smr, ti.nr
	np := (n + nr - 1) / nr
	ng := (m + smr - 1) / smr
	apack := getScratch(ng * k * smr)
	defer putScratch(apack)
	for g := 0; g < ng; g++ {
		packA(apack[g*k*smr:(g+1)*k*smr], a, lda, transA, g*smr, min(smr, m-g*smr), 0, k, smr)
	}
	kb, chunk := k, 1
	if bs.packed == nil {
		kb, chunk = nnKB, nnChunk
	}
	workers := min(threads, np)
	per := (np + workers - 1) / workers
	runWorkers(workers, np, func(w int) {
		tile := getScratch(smr * nr)
		defer putScratch(tile)
		var bpan []float32
		defer func() { putScratch(bpan) }()
		end := min(np, (w+1)*per)
		for jc := w * per; jc < end; jc += chunk {
			for p0 := 0; p0 < k; p0 += kb {
				kc := min(kb, k-p0)
				for jp := jc; jp < min(end, jc+chunk); jp++ {
					j0 := jp * nr
					cols := min(nr, n-j0)
					var bptr *float32
					var bstride uintptr
					switch {
					case bs.packed != nil:
						bptr, bstride = &bs.packed[jp*bs.pk*nr+p0*nr], uintptr(nr*f32)
					case cols == nr:
						bptr, bstride = &bs.raw[p0*bs.ldb+j0], uintptr(bs.ldb*f32)
					default:
						if bpan == nil {
							bpan = getScratch(kb * nr)
						}
						packB(bpan, bs, p0, kc, j0, cols, nr)
						bptr, bstride = &bpan[0], uintptr(nr*f32)
					}
					for g := 0; g < ng; g++ {
						i0 := g * smr
						rows := min(smr, m-i0)
						ap := &apack[g*k*smr+p0*smr]
						if rows == smr && cols == nr {
							ti.small(kc, ap, f32, uintptr(smr*f32), bptr, bstride, &c[i0*ldc+j0], uintptr(ldc*f32), alpha)
							continue
						}
						clear(tile)
						ti.small(kc, ap, f32, uintptr(smr*f32), bptr, bstride, &tile[0], uintptr(nr*f32), 1)
						addTile(c, ldc, i0, j0, rows, cols, tile, nr, alpha)
					}
				}
			}
		}
	})
}

// scratch recycles the packing buffers between calls (decode calls Linear
// thousands of times; this keeps them off the garbage collector). A pool
// holds pointers, and taking the address of a slice allocates, so the
// emptied *[]float32 headers circulate through headers instead.
var scratch, headers sync.Pool

// getScratch returns a buffer of length n (contents undefined).
func getScratch(n int) []float32 {
	p, ok := scratch.Get().(*[]float32)
	if !ok {
		return make([]float32, n)
	}
	b := *p
	*p = nil
	headers.Put(p)
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// putScratch returns b to the pool (nil is ignored).
func putScratch(b []float32) {
	if cap(b) == 0 {
		return
	}
	p, ok := headers.Get().(*[]float32)
	if !ok {
		p = new([]float32)
	}
	*p = b
	scratch.Put(p)
}
