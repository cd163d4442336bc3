package attention

import (
	"math"

	"github.com/tessella-ml/tessella/attention/tile"
)

// Flash block sizes (see doc.go for the cache reasoning).
const (
	flashRows = 32  // Br: query rows per work item; a multiple of 32 (the micro-kernel width)
	flashCols = 128 // Bc: keys per block
)

// Flash is the tiled kernel (FlashAttention's forward pass on a CPU). A work
// item is (batch, head, block of Br query rows). It packs the block's
// queries once, transposed and pre-scaled, then walks the keys in blocks of
// Bc, keeping the scores transposed (keys × query rows) so that the online
// softmax runs down columns, 16 query rows per vector:
//
//	Qᵀ (D, Br)  = scale · Q rows i0 … i0+Br−1, transposed (zero-padded columns)
//	Sᵀ (Bc, Br) = K rows j0 … j0+Bc−1 · Qᵀ                 (tile.Gemm8, K read in place)
//	Sᵀ         += biasᵀ                                     (only if a mask is set; padding and causal
//	                                                          masks by whole key rows and the triangle)
//	m' = max(m, colmax Sᵀ);  α = exp(m − m');  Pᵀ = exp(Sᵀ − m');  l = α·l + colsum Pᵀ
//	O (Br, D)   = α·O + P · V rows j0 … j0+Bc−1             (tile.Gemm8AT, V read in place)
//
// and finally Out = O / l. Scratch is Br·D + Bc·Br + Br·D + Bc + 3·Br floats
// per thread, independent of N (so the extra memory is O(1) in N; O(N)
// counting the inputs). Causal rows skip key blocks wholly in their future
// when that is exact (see causalLimit). Goroutines split the work items.
type Flash struct{}

func (Flash) Name() string { return "flash" }

func flashScratch(d int) int {
	return d*flashRows + flashCols*flashRows + flashRows*d + flashCols + 3*flashRows
}

// ScratchBytes is the per-thread tile scratch times the threads used; an
// Args.Workspace of ScratchBytes/4 floats makes Forward allocation-free
// (apart from goroutines when Threads > 1).
func (Flash) ScratchBytes(a *Args) int {
	items := a.Batch * a.Heads * ((a.QLen + flashRows - 1) / flashRows)
	return min(a.ThreadCount(), items) * 4 * flashScratch(a.HeadDim)
}

func (Flash) Forward(a *Args) error {
	if err := a.Validate(); err != nil {
		return err
	}
	d := a.HeadDim
	blocks := (a.QLen + flashRows - 1) / flashRows
	n := a.Batch * a.Heads * blocks
	threads := min(a.ThreadCount(), n)
	per := flashScratch(d)
	ws := a.Workspace
	if len(ws) < threads*per {
		ws = make([]float32, threads*per)
	}
	if threads == 1 { // inline: no closure, no allocation
		for item := range n {
			bh, blk := item/blocks, item%blocks
			i0 := blk * flashRows
			flashBlock(a, ws[:per], bh/a.Heads, bh%a.Heads, i0, min(a.QLen, i0+flashRows))
		}
		return nil
	}
	parallel(n, threads, func(w, item int) {
		bh, blk := item/blocks, item%blocks
		i0 := blk * flashRows
		flashBlock(a, ws[w*per:(w+1)*per], bh/a.Heads, bh%a.Heads, i0, min(a.QLen, i0+flashRows))
	})
	return nil
}

// flashBlock computes output rows i0 … i1−1 of (b, h) using buf as scratch.
func flashBlock(a *Args, buf []float32, b, h, i0, i1 int) {
	const br, bc = flashRows, flashCols
	d, nr := a.HeadDim, i1-i0
	nrp := (nr + 31) &^ 31 // rows padded to the micro-kernel width
	scale := a.ScaleOrDefault()
	qt := buf[:d*br]             // Qᵀ·scale (D, Br)
	st := buf[d*br:][:bc*br]     // Sᵀ, then Pᵀ (Bc, Br)
	o := buf[d*br+bc*br:][:br*d] // O accumulator (Br, D)
	rest := buf[d*br+bc*br+br*d:]
	bias := rest[:bc]                                                         // bias row (Bc)
	m, l, alpha := rest[bc:bc+br], rest[bc+br:bc+2*br], rest[bc+2*br:bc+3*br] // per query row (Br)

	tile.PackT(qt, br, a.Q.Data[b*a.Q.BatchStride+i0*a.Q.RowStride+h*a.Q.HeadStride:], a.Q.RowStride, nr, d, scale)
	if nr < nrp {
		for c := range d {
			clear(qt[c*br+nr : c*br+nrp])
		}
	}
	for r := range nrp {
		m[r], l[r] = float32(math.Inf(-1)), 0
	}
	clear(o[:nrp*d])

	biased := a.hasBias()
	off := a.Mask.CausalOffset
	kEnd := max(a.causalLimit(b, i0), a.causalLimit(b, i1-1)) // rows with no visible key need all keys
	kd := a.K.Data[b*a.K.BatchStride+h*a.K.HeadStride:]
	vd := a.V.Data[b*a.V.BatchStride+h*a.V.HeadStride:]
	ldk, ldv := a.K.RowStride, a.V.RowStride
	d32 := d &^ 31
	for j0 := 0; j0 < kEnd; j0 += bc {
		nc := min(bc, kEnd-j0)
		// Sᵀ = K block · Qᵀ.
		j := 0
		for ; j+8 <= nc; j += 8 {
			tile.Gemm8(d, kd[(j0+j)*ldk:], ldk, qt, br, st[j*br:], br, nil, nrp/32)
		}
		for ; j+4 <= nc; j += 4 {
			kj := kd[(j0+j)*ldk:]
			for p := 0; p < nrp; p += 32 {
				tile.Gemm4(d, kj, ldk, qt[p:], br, st[j*br+p:], br, nil)
			}
		}
		for ; j < nc; j++ {
			kj := kd[(j0+j)*ldk:]
			for p := 0; p < nrp; p += 32 {
				tile.Gemm1(d, kj, qt[p:], br, st[j*br+p:], nil)
			}
		}
		if biased && a.Mask.Bias == nil {
			// Padding and causal masks without a user bias: add MaskBias to
			// whole key rows of Sᵀ (padding) and to the causal triangle.
			if kv := a.Mask.KeyValid; kv != nil {
				for jj, ok := range kv[b*a.KVLen+j0 : b*a.KVLen+j0+nc] {
					if !ok {
						sr := st[jj*br : jj*br+nr]
						for r := range sr {
							sr[r] += MaskBias
						}
					}
				}
			}
			if a.Mask.Causal {
				// Key j0+jj is in the future of rows r < j0+jj−off−i0.
				for jj := range nc {
					for r := range min(nr, max(0, j0+jj-off-i0)) {
						st[jj*br+r] += MaskBias
					}
				}
			}
		} else if biased {
			for r := range nr {
				a.biasRow(bias[:nc], b, h, i0+r, j0)
				for jj, v := range bias[:nc] {
					st[jj*br+r] += v
				}
			}
		}
		tile.SoftmaxCols(st, nc, br, nrp, m, l, alpha)
		// O = α·O + P·V.
		vj := vd[j0*ldv:]
		for r := 0; r < nrp; r += 8 {
			if d32 > 0 {
				tile.Gemm8AT(nc, st[r:], br, vj, ldv, o[r*d:], d, alpha[r:], d32/32)
			}
			if d32 < d {
				tile.GemmGoAT(8, d-d32, nc, st[r:], br, vj[d32:], ldv, o[r*d+d32:], d, alpha[r:])
			}
		}
	}
	for r := range nr {
		tile.ScaleTo(row(&a.Out, b, i0+r, h, d), o[r*d:r*d+d], 1/l[r])
	}
}
