// Package matmul is the one matrix-multiply interface the model uses.
//
// Linear layers keep their weight as nn.Linear stores it, W (N, K) row-major,
// and compute y (M, N) = x (M, K) · Wᵀ. Gemm serves convolutions (im2col)
// and anything else shaped like BLAS sgemm:
//
//	C (m, n) = alpha · op(A) (m, k) · op(B) (k, n) + beta · C,  row-major.
//
// Implementations ("tiers", chosen at start-up from the CPU's features via
// golang.org/x/sys/cpu, see Best; an Engine pins one tier and a thread count):
//
//   - AVX512: a 12×32 register block (24 zmm accumulators, 2 zmm of B,
//     6 broadcast registers: 32 registers) of VFMADD231PS, BLIS-style: W or
//     B packed into 32-wide panels (kc rows of 32 floats), A read in place
//     through (row, k) byte strides (so op(A) = Aᵀ needs no copy), or packed
//     when m ≥ 128 and n spans ≥ 16 panels (and for edge rows); blocks KC = 256 (a 32 KB B micro-panel stays in the
//     48 KB L1), MC = 192 rows of A (≈ 192 KB of L2). Goroutines split the
//     (MC block × panel range) tiles; a packed sliver with a packed panel
//     runs kern12x32p, the same block unrolled four k steps with constant
//     offsets. For m ≤ 8 (decode) a 4×32 kernel
//     streams each weight panel once over the whole K.
//   - AVX2: the same driver with a 6×16 ymm block (12 accumulators).
//   - Gonum: gonum's blas32 (pure Go); always built. The build tag purego
//     (or any non-amd64 target) removes the assembly and selects it
//     everywhere.
//
// All tiers accumulate in float32; results differ from a float64 reference
// by rounding only (tests bound it by ≈ k·2⁻²³·Σ|a||b|).
//
// Linear packs W once at NewLinear into the tier's panel format: panel jp
// holds output columns jp·nr … jp·nr+nr−1 as K rows of nr floats (zero
// padded past N).
//
// GemmPanels takes B already in that panel format (PanelWidth columns per
// panel), for a caller that produces B itself: the VQGAN writes its im2col
// rows straight into panels instead of a K×N matrix Gemm would pack again.
// PackA packs an A that several such products share (a convolution's
// weight, multiplied strip by strip) once, for GemmPackedA. Both give bit
// for bit the products of Gemm on the same operands with m > 8 (for m ≤ 8,
// Gemm's raw-B path sums K in blocks of 32, so it may round differently).
// Goroutines come from package par's spinning pool.
//
// Reduced-precision weights (lowp.go): NewLinearF16, NewLinearBF16,
// NewLinearQ8 (or NewLinearDType) keep W in binary16, bfloat16 or
// group-wise int8 (32 values along K per scale, the weights.Q8 rule:
// d = max|x|/127 rounded up to binary16, q = round(x/d)); the result is
// still a *Linear, with the same Forward computing y = x·Ŵᵀ in float32,
// where Ŵ is the dequantised weight (Weight returns it). W is stored in
// blocks of rows × K (K padded to 32) so that a block is one contiguous
// stream: f16 and bf16 in blocks of 4 rows, chunk-interleaved; q8 in
// blocks of 64 rows, k-major (the 64 rows' codes of one k side by side).
// On AVX-512 the kernels of kernels_lowp_amd64.s (written by gen_lowp.go)
// stream each block once (for M > 4 later groups of x rows re-read it
// from cache) for 1, 2 or 4 rows of x per call. f16 and bf16 dequantise
// in registers — VCVTPH2PS, or VPMOVZXWD + VPSLLD 16 — and reduce the 4
// rows' accumulators into 4 outputs. q8 converts each k's 64 codes
// (VPMOVSXBD + VCVTDQ2PS: 16 rows per register) and multiplies them by
// x[k] broadcast from memory into per-group partial sums, then adds each
// 32-k group's partial sums × the 64 rows' scales: y = Σ_c d_c·Σ_o x·q,
// which rounds differently from Σ x·(q·d) but within the same tolerance.
// Other SIMD tiers (and AVX-512 with the small path off)
// dequantise the codes into the tier's float32 panels about 1 MB at a time
// and run the float32 driver on them; Gonum and purego builds dequantise
// row chunks and call the tier's Gemm. Every path is checked against a
// float64 reference on Ŵ (tolerance (K+4)·2⁻²³·Σ|x||ŵ|) and on the
// float32 W (plus Σ|x|·|ŵ − w|, with |ŵ − w| ≤ 2⁻¹¹|w| for f16 normals,
// 2⁻⁸|w| for bf16, d/2 for q8).
package matmul
