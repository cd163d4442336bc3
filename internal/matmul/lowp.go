package matmul

import (
	"fmt"
	"math"
)

// DType is the precision a Linear keeps its weight in. Whatever the
// weight's precision, x, y and the accumulation are float32.
type DType uint8

const (
	// F32 is float32: the weight packed into the tier's panels (NewLinear).
	F32 DType = iota
	// F16 is IEEE binary16, rounded to nearest even (2 bytes per weight).
	F16
	// BF16 is bfloat16 (the top half of a float32), rounded to nearest
	// even (2 bytes per weight).
	BF16
	// Q8 is group-wise int8: one scale per 32 weights along K (1 byte per
	// weight plus a 4-byte scale per group); see NewLinearQ8.
	Q8
)

func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case BF16:
		return "bf16"
	case Q8:
		return "q8"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// ParseDType reads "f32", "f16", "bf16" or "q8" ("" is f32).
func ParseDType(s string) (DType, error) {
	switch s {
	case "", "f32", "fp32", "float32":
		return F32, nil
	case "f16", "fp16", "float16":
		return F16, nil
	case "bf16", "bfloat16":
		return BF16, nil
	case "q8", "int8":
		return Q8, nil
	}
	return F32, fmt.Errorf("matmul: unknown weight dtype %q (want f32, f16, bf16 or q8)", s)
}

// Layout of a reduced-precision weight (lowp). W (N, K) is cut into blocks
// of br rows (N padded with zero rows to a multiple of br) and each row
// into chunks of lpChunk = 32 values along K (K padded with zeros to kp, a
// multiple of 32). Block b is nc = kp/32 chunks, so a block is one
// contiguous run that the small-M kernel streams front to back.
//
// F16 and BF16: br = lpRows = 4, and chunk c is the 4 rows' 32 codes one
// after the other (a row's chunk is contiguous):
//
//	code index of W[j, p] = ((b·nc + c)·4 + r)·32 + o,  j = 4b + r, p = 32c + o
//
// Q8: br = q8Rows = 64, and chunk c is 32 k steps of the 64 rows' codes
// (k-major: one byte per row per k, so 16 consecutive codes are 16 rows,
// the lanes of one register), with one scale per (row, chunk), the chunk
// being the quantisation group:
//
//	code index of W[j, p] = ((b·nc + c)·32 + o)·64 + r,  j = 64b + r, p = 32c + o
//	scale index           = (b·nc + c)·64 + r
const (
	lpRows  = 4
	q8Rows  = 64
	lpChunk = 32
)

// lowp is a weight kept in F16, BF16 or Q8 (see the layout above).
type lowp struct {
	dt     DType
	kp, nc int // K padded to a multiple of lpChunk, and kp/lpChunk
	br     int // rows per block: lpRows, or q8Rows for Q8
	nb     int // blocks of br rows
	h      []uint16
	q      []int8
	s      []float32
}

// NewLinearF16 prepares the (N, K) row-major weight w with the default
// engine, kept in binary16 (w is rounded to nearest even; |w| ≥ 65520
// becomes ±Inf, |w| < 2⁻¹⁴ a binary16 subnormal). Forward dequantises in
// the kernel: y = x·Ŵᵀ with Ŵ the binary16 values, accumulated in
// float32. Like NewLinear it panics when len(w) ≠ n·k.
func NewLinearF16(w []float32, n, k int) *Linear { return defaultEngine.NewLinearDType(F16, w, n, k) }

// NewLinearBF16 is NewLinearF16 with bfloat16 (w rounded to nearest even
// to its top 16 bits; the relative error is at most 2⁻⁸).
func NewLinearBF16(w []float32, n, k int) *Linear { return defaultEngine.NewLinearDType(BF16, w, n, k) }

// NewLinearQ8 prepares w quantised group-wise to int8, the rule of
// weights.Q8 (tessella's q8 file format), with groups of 32 consecutive
// values along K within a row (the last group of a row may be shorter):
//
//	d = max|x| / 127, rounded up to binary16: the smallest binary16 d
//	    with 127·d ≥ max|x| (d = 0 for an all-zero group)
//	q = round(x / d)  (half away from zero, |q| ≤ 127; 0 when d = 0)
//	x̂ = float32(q) · d (the float32 product: what Weight returns and the
//	    non-AVX-512 paths multiply by; the AVX-512 kernel computes
//	    Σ_c d_c · Σ_{p in c} x_p · q_p instead, one scale per 32 products)
//
// so |x̂ − x| ≤ d/2 (+ one float32 rounding). The scales are kept as
// float32 (their values are binary16) so that the kernel can load them
// from memory: 1.125 bytes per weight (N is padded to a multiple of 64).
// A group whose max|x| exceeds 65504·127 keeps a float32 scale (the
// smallest with 127·d ≥ max|x|); a group holding NaN or ±Inf gets a NaN
// scale, so its outputs are NaN.
// Quantising a weight that was itself dequantised from this format gives
// back the same codes and scales.
func NewLinearQ8(w []float32, n, k int) *Linear { return defaultEngine.NewLinearDType(Q8, w, n, k) }

// NewLinearDType prepares w in precision dt with the default engine.
func NewLinearDType(dt DType, w []float32, n, k int) *Linear {
	return defaultEngine.NewLinearDType(dt, w, n, k)
}

// NewLinearDType prepares the (N, K) row-major weight w in precision dt for
// this engine (F32 is NewLinear). The result keeps no reference to w.
// It panics when len(w) ≠ n·k or dt is not one of the DType constants.
func (e *Engine) NewLinearDType(dt DType, w []float32, n, k int) *Linear {
	if dt == F32 {
		return e.NewLinear(w, n, k)
	}
	if n < 0 || k < 0 || len(w) != n*k {
		panic(fmt.Sprintf("matmul: weight length %d does not match its shape (%d, %d)", len(w), n, k))
	}
	if dt != F16 && dt != BF16 && dt != Q8 {
		panic(fmt.Sprintf("matmul: unknown weight dtype %v", dt))
	}
	lp := &lowp{dt: dt, nc: (k + lpChunk - 1) / lpChunk, br: lpRows}
	if dt == Q8 {
		lp.br = q8Rows
	}
	lp.nb = (n + lp.br - 1) / lp.br
	lp.kp = lp.nc * lpChunk
	size := lp.nb * lp.br * lp.kp
	switch dt {
	case Q8:
		lp.q = make([]int8, size)
		lp.s = make([]float32, size/lpChunk)
	default:
		lp.h = make([]uint16, size)
	}
	threads := min(e.Threads(), max(1, lp.nb))
	per := (lp.nb + threads - 1) / threads
	runWorkers(threads, lp.nb, func(t int) {
		for b := t * per; b < min(lp.nb, (t+1)*per); b++ {
			for r := 0; r < lp.br && b*lp.br+r < n; r++ {
				j := b*lp.br + r
				lp.setRow(j, w[j*k:(j+1)*k])
			}
		}
	})
	return &Linear{N: n, K: k, eng: e, lp: lp}
}

// at returns the code index of W[j, 32c] (F16, BF16: the start of row j's
// chunk c, whose 32 codes are contiguous).
func (lp *lowp) at(j, c int) int {
	return ((j/lpRows*lp.nc+c)*lpRows + j%lpRows) * lpChunk
}

// q8At returns, for Q8, the code index of W[j, 32c] (the chunk's 32 codes
// follow q8Rows apart) and the index of the chunk's scale.
func (lp *lowp) q8At(j, c int) (code, scale int) {
	bc := j/q8Rows*lp.nc + c
	return bc*lpChunk*q8Rows + j%q8Rows, bc*q8Rows + j%q8Rows
}

// setRow encodes row j (K values).
func (lp *lowp) setRow(j int, row []float32) {
	for c := 0; c < lp.nc; c++ {
		seg := row[c*lpChunk : min(len(row), (c+1)*lpChunk)]
		if lp.dt == Q8 {
			var q [lpChunk]int8
			ci, si := lp.q8At(j, c)
			lp.s[si] = quantQ8(q[:len(seg)], seg)
			for o, v := range q[:len(seg)] {
				lp.q[ci+o*q8Rows] = v
			}
			continue
		}
		i := lp.at(j, c)
		switch lp.dt {
		case F16:
			for o, v := range seg {
				lp.h[i+o] = f32ToF16(v)
			}
		case BF16:
			for o, v := range seg {
				lp.h[i+o] = f32ToBF16(v)
			}
		}
	}
}

// quantQ8 quantises one group x into q and returns its scale (NewLinearQ8).
func quantQ8(q []int8, x []float32) float32 {
	var amax float32
	for _, v := range x {
		a := float32(math.Abs(float64(v)))
		if !(a <= math.MaxFloat32) { // NaN or ±Inf
			clear(q)
			return float32(math.NaN())
		}
		amax = max(amax, a)
	}
	if amax == 0 {
		clear(q)
		return 0
	}
	d := scaleQ8(amax)
	for o, v := range x {
		r := math.Round(float64(v) / float64(d))
		q[o] = int8(max(-127, min(127, r)))
	}
	return d
}

// scaleQ8 is the smallest binary16 d with 127·d ≥ amax (amax > 0, finite),
// or the smallest such float32 when binary16 overflows.
func scaleQ8(amax float32) float32 {
	h := f32ToF16(amax / 127)
	if float64(f16ToF32(h))*127 < float64(amax) {
		h++ // the next binary16 up (positive patterns are ordered)
	}
	if d := f16ToF32(h); !math.IsInf(float64(d), 0) {
		return d
	}
	d := amax / 127
	for float64(d)*127 < float64(amax) {
		d = math.Nextafter32(d, float32(math.Inf(1)))
	}
	return d
}

// row writes the dequantised row j (K values) into dst: what the kernels
// multiply by (Q8: float32(q)·d, the float32 product).
func (lp *lowp) row(j int, dst []float32) {
	for c := 0; c < lp.nc; c++ {
		lp.chunk(dst[c*lpChunk:min(len(dst), (c+1)*lpChunk)], j, c)
	}
}

// chunk writes the first len(seg) dequantised values of row j's chunk c.
func (lp *lowp) chunk(seg []float32, j, c int) {
	if lp.dt == Q8 {
		ci, si := lp.q8At(j, c)
		d := lp.s[si]
		for o := range seg {
			seg[o] = float32(lp.q[ci+o*q8Rows]) * d
		}
		return
	}
	i := lp.at(j, c)
	switch lp.dt {
	case F16:
		for o, h := range lp.h[i : i+len(seg)] {
			seg[o] = f16ToF32(h)
		}
	case BF16:
		for o, h := range lp.h[i : i+len(seg)] {
			seg[o] = bf16ToF32(h)
		}
	}
}

// q8KMajor writes the dequantised W[j0+jj, p] of a Q8 weight to
// dst[p·ld + jj] for p < k, jj < rows: the k-major order the layout
// already has, so each k reads runs of up to 64 consecutive codes and
// scales (the row-wise chunk reads 32 codes q8Rows apart).
func (lp *lowp) q8KMajor(dst []float32, ld, j0, rows, k int) {
	for j := j0; j < j0+rows; {
		r := j % q8Rows
		run := min(q8Rows-r, j0+rows-j)
		for c := 0; c < lp.nc; c++ {
			ci, si := lp.q8At(j, c)
			sc := lp.s[si : si+run]
			for o := 0; o < min(lpChunk, k-c*lpChunk); o++ {
				codes := lp.q[ci+o*q8Rows : ci+o*q8Rows+run]
				out := dst[(c*lpChunk+o)*ld+j-j0:][:run]
				for t, q := range codes {
					out[t] = float32(q) * sc[t]
				}
			}
		}
		j += run
	}
}

// weight returns the dequantised (N, K) row-major weight.
func (lp *lowp) weight(n, k int) []float32 {
	w := make([]float32, n*k)
	for j := 0; j < n; j++ {
		lp.row(j, w[j*k:(j+1)*k])
	}
	return w
}

// bytes is the memory the weight takes (codes and scales, with padding).
func (lp *lowp) bytes() int {
	if lp.dt == Q8 {
		return len(lp.q) + 4*len(lp.s)
	}
	return 2 * len(lp.h)
}

// DType returns the precision the weight is kept in.
func (l *Linear) DType() DType {
	if l.lp == nil {
		return F32
	}
	return l.lp.dt
}

// WeightBytes returns the bytes the prepared weight occupies (padding
// included): what a Forward with M ≤ 8 streams from memory.
func (l *Linear) WeightBytes() int {
	switch {
	case l.lp != nil:
		return l.lp.bytes()
	case l.packed != nil:
		return 4 * len(l.packed)
	}
	return 4 * len(l.w)
}

// forward computes y (m, N) = x (m, K) · Ŵᵀ; sizes are checked, m, N,
// K > 0. With AVX-512 it runs the fused kernels for every m (for m > 8
// each block is re-read from L1 by every group of 4 x rows: measured
// 0.7–1.2× the float32 time at m = 128, against 1.0–1.95× for the
// panel path); otherwise (and with the engine's small path switched off)
// it dequantises into float32 (panels for a SIMD tier, row chunks for the
// others) and runs the float32 path.
func (lp *lowp) forward(e *Engine, n, k int, y, x []float32, m int) {
	if e.tier == AVX512 && lowpKernels && !e.noSmall {
		lp.gemv(e, n, k, y, x, m)
		return
	}
	if e.impl != nil {
		lp.viaPanels(e, n, k, y, x, m)
		return
	}
	lp.viaF32(e, n, k, y, x, m)
}

// viaPanels dequantises W straight into the SIMD tier's panel format
// (Linear.packed: panel jp is K rows of nr floats), a few panels (about
// 1 MB) at a time on the engine's threads, and runs the float32 driver on
// them: one pass over the codes per Forward, shared by all m rows.
func (lp *lowp) viaPanels(e *Engine, n, k int, y, x []float32, m int) {
	nr := e.impl.nr
	np := (n + nr - 1) / nr
	chunk := min(np, max(1, (256<<10)/(k*nr)))
	buf := getScratch(chunk * k * nr)
	defer putScratch(buf)
	threads := e.Threads()
	for jp0 := 0; jp0 < np; jp0 += chunk {
		cnt := min(chunk, np-jp0)
		per := (cnt + threads - 1) / threads
		runWorkers(threads, cnt, func(t int) {
			var row [lpChunk]float32
			for q := t * per; q < min(cnt, (t+1)*per); q++ {
				dst := buf[q*k*nr : (q+1)*k*nr]
				j0 := (jp0 + q) * nr
				rows := min(nr, n-j0)
				if rows < nr {
					clear(dst)
				}
				if lp.dt == Q8 {
					lp.q8KMajor(dst, nr, j0, rows, k)
					continue
				}
				// Chunk by chunk: the 32 k rows × nr floats being written
				// (4 KB for nr = 32) stay in L1 while the rows fill them.
				for c := 0; c < lp.nc; c++ {
					o1 := min(lpChunk, k-c*lpChunk)
					blk := dst[c*lpChunk*nr : (c*lpChunk+o1)*nr]
					for jj := 0; jj < rows; jj++ {
						lp.chunk(row[:o1], j0+jj, c)
						for o, v := range row[:o1] {
							blk[o*nr+jj] = v
						}
					}
				}
			}
		})
		j0 := jp0 * nr
		cols := min(n, (jp0+cnt)*nr) - j0
		e.gemmSIMD(false, m, cols, k, 1, x, k, bSource{packed: buf, pk: k}, 0, y[j0:], n, nil)
	}
}

// viaF32 dequantises rows j0…j1−1 of W into a float32 scratch (about
// 512 KB) and computes those columns of y with e.Gemm (x · chunkᵀ; for
// Q8 the chunk is written k-major and multiplied untransposed).
func (lp *lowp) viaF32(e *Engine, n, k int, y, x []float32, m int) {
	rows := min(n, max(32, (128<<10)/k))
	buf := getScratch(rows * k)
	defer putScratch(buf)
	threads := e.Threads()
	for j0 := 0; j0 < n; j0 += rows {
		cnt := min(rows, n-j0)
		w := buf[:cnt*k]
		per := (cnt + threads - 1) / threads
		if lp.dt == Q8 { // k-major (k × cnt), the layout's own order
			runWorkers(threads, cnt, func(t int) {
				if lo := t * per; lo < cnt {
					lp.q8KMajor(w[lo:], cnt, j0+lo, min(cnt, lo+per)-lo, k)
				}
			})
			e.Gemm(false, false, m, cnt, k, 1, x, k, w, cnt, 0, y[j0:], n)
			continue
		}
		runWorkers(threads, cnt, func(t int) {
			for j := t * per; j < min(cnt, (t+1)*per); j++ {
				lp.row(j0+j, w[j*k:(j+1)*k])
			}
		})
		e.Gemm(false, true, m, cnt, k, 1, x, k, w, k, 0, y[j0:], n)
	}
}

// f16ToF32 converts a binary16 bit pattern to float32 exactly. The bits
// of |h| shifted into a float32 are |h|·2⁻¹¹², for normals and subnormals
// alike, so one exact multiplication by 2¹¹² rebiases (no branch but the
// one for Inf and NaN).
func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	if h&0x7c00 == 0x7c00 { // Inf, NaN (payload kept)
		return math.Float32frombits(sign | 0x7f800000 | uint32(h&0x3ff)<<13)
	}
	v := math.Float32frombits(uint32(h&0x7fff)<<13) * 0x1p112
	return math.Float32frombits(sign | math.Float32bits(v))
}

// f32ToF16 rounds a float32 to the nearest binary16, ties to even;
// overflow gives ±Inf, NaN stays NaN.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	a := b & 0x7fffffff
	switch {
	case a > 0x7f800000: // NaN: keep it quiet and a NaN
		return sign | 0x7e00 | uint16(a>>13)&0x1ff
	case a >= 0x477ff000: // ≥ 65520 (the midpoint above 65504): Inf
		return sign | 0x7c00
	case a >= 0x38800000: // ≥ 2⁻¹⁴: normal; rebias, round 13 bits away
		v := a - 112<<23
		v += 0xfff + (v>>13)&1
		return sign | uint16(v>>13)
	case a >= 0x33000000: // ≥ 2⁻²⁵: a subnormal (or the smallest normal)
		e := a >> 23
		m := a&0x7fffff | 0x800000
		shift := 126 - e // units of 2⁻²⁴
		h := m >> shift
		rest, half := m&(1<<shift-1), uint32(1)<<(shift-1)
		if rest > half || (rest == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	return sign // below half the smallest subnormal: ±0
}

// bf16ToF32 converts a bfloat16 bit pattern to float32 exactly.
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f32ToBF16 rounds a float32 to the nearest bfloat16, ties to even; NaN
// stays NaN.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
