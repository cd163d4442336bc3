// Package attention computes multi-head scaled-dot-product attention.
//
// For batch b, head h, query row i and key row j, with head width D:
//
//	S[b,h,i,j]   = scale · Σ_{c<D} Q[b,i,h,c]·K[b,j,h,c] + bias(b,h,i,j)     scale = 1/√D
//	P[b,h,i,j]   = exp(S[b,h,i,j] − max_j S[b,h,i,·]) / Σ_j exp(S[b,h,i,j] − max_j S)
//	Out[b,i,h,c] = Σ_j P[b,h,i,j]·V[b,j,h,c]
//
// Shapes: Q and Out are (B, Nq, H·D), K and V are (B, Nk, H·D), heads side by
// side in the last dimension (any non-negative strides, 0 included; see
// Operand). Every kernel calls Args.Validate first and returns its error
// (never panics) on bad Args: non-positive shapes, negative strides, slices
// too short, strides or sizes whose index arithmetic would overflow an int,
// or a NaN or infinite Scale. The bias is
// min-dalle's additive −1e12 (MaskBias) for padded keys (Mask.KeyValid) and
// future keys (Mask.Causal, key j visible to row i iff j ≤ i + CausalOffset),
// plus an optional user bias (Mask.Bias), summed in float32.
//
// # Kernels
//
// Every kernel implements Kernel; Kernels() lists them and Best picks one.
//
//   - Reference: the float64 oracle. Materialises S in float64, three-pass
//     softmax, S·V, all float64 (see the score rounding below).
//   - Plain: the readable float32 kernel the model started from.
//   - Naive: float32 with an Nq×Nk buffer per (batch, head) and thread;
//     Q·Kᵀ and P·V through internal/matmul (single-threaded engines of the
//     best tier, on strided views, no copies); softmax in Go. Args with a
//     row stride below D (e.g. 0 to broadcast a row) run Plain instead.
//   - Online: fused single pass per query row with a running max and sum and
//     a rescaled accumulator; no N×N buffer (HeadDim floats of scratch).
//   - Flash: tiled online softmax (FlashAttention's forward pass). A work
//     item is (batch, head, Br query rows); Q is packed once per item,
//     transposed and pre-scaled; keys go by in blocks of Bc; the score block
//     is kept transposed (Bc × Br) so the online-softmax update runs down
//     columns, 16 query rows per vector. Scratch per thread is
//     4·(2·Br·D + Bc·Br + Bc + 3·Br) bytes — independent of N.
//   - Decode: a few query rows against a KV cache of t keys: score pass
//     (one dot product per key), in-place softmax, one P·V pass; reuses its
//     buffers (no allocation per call with Threads = 1).
//
// Inner loops live in package tile: 8×32 and 4×32 register-blocked
// micro-kernels (16 resp. 8 zmm accumulators of VFMADD231PS), a vector exp
// (Cody–Waite reduction, degree-7 polynomial, VSCALEFPS), the column-wise
// online-softmax update, a gather-based transpose of the query block, and
// the decode kernel's multi-key dot product and P·V row, in AVX-512 assembly
// selected at run time (golang.org/x/sys/cpu: AVX512F and AVX512DQ), with a
// pure-Go version of each that is the fallback (and is forced by the build
// tag purego; the tests pass both ways). Nothing depends on GOEXPERIMENT=simd.
//
// Goroutines split the work, at most Args.Threads of them (0: GOMAXPROCS):
// Naive, Online and Flash hand (batch, head, row block) items out in order
// from an atomic counter; Plain deals (batch, head) pairs round-robin and
// Decode gives each goroutine a contiguous run of (batch, head, row) items.
//
// # Flash block sizes
//
// Br = 32 query rows, Bc = 128 keys. For D = 64 the per-item working set is
// Qᵀ 8 KB + Sᵀ/Pᵀ 16 KB + O 8 KB = 32 KB, inside the 48 KB L1d, while each
// K and V block (Bc·D·4 = 32 KB, read in place from the strided operand)
// streams through the 1 MB L2; at D = 128 Qᵀ and O double (48 KB) and live in
// L2. The micro-kernel's own working set (one 32-column panel of Qᵀ, D×32×4
// = 8 KB, and eight K rows) always fits L1. Br = 32 also keeps the causal
// diagonal waste small and gives Nq/32 items per head for the goroutines. We
// measured (Br, Bc) ∈ {32, 64, 128} × {64, 128} on N = 1024 and 4096, d = 64
// and 128: all were within the machine's noise (64–72 % of the per-CPU-second
// FMA peak) on long sequences; Br = 32 was best on the model's 256-row causal
// self-attention, so it is the default.
//
// # Best
//
// Best(a) returns Decode when a.QLen ≤ 4 and Flash otherwise; the model
// runs Auto, which makes that choice per call and keeps Decode's scratch
// between calls. Measured
// (benchmarks/README.md, final run; wall times there are noisy, so the
// comparison uses FLOP per CPU-second): on mini's cross-attention decode
// step (1×64, B·H = 32) Decode did 7× the work per CPU-second of Flash and
// 8–16× that of Online and Naive (one thread: 62 µs against 406–721 µs); on
// mega's decode step against 256 cached keys 4.5–7× the others; on every
// shape with ≥ 64 query rows (the model's 64×64 encoder, 256×256 causal and
// 256×64 cross attention, and the N = 256 … 4096 sweeps at d = 64 and 128)
// Flash beat Naive by 1.2–5.3× and Online by ≥ 24×, at 1 and 2 threads.
//
// # Numerics: scores, masks, and what a fully masked row does
//
// Every kernel forms a score in float32 as fl(fl(q·k)·scale) + bias, except
// Flash, which packs Q pre-scaled and forms fl(fl(scale·q)·k) + bias (the
// two agree bit for bit when scale is a power of two, as 1/√64 is; Flash
// without a user bias adds the padding and causal MaskBias terms one after
// the other, which gives the same float32 value whenever |score| < 32768),
// and the Reference forms
// float32(float64 score + float64(bias)): the score is rounded to float32
// once, the precision the model's scores live in. Softmax and P·V are float32 in the kernels
// (float64 in Reference), with max subtraction and a final division by the
// row sum.
//
// MaskBias = float32(−1e12) has a float32 ulp of 65536, so for any score
// with |score| < 32768 a masked score is exactly float32(−1e12), and a score
// masked twice (padding and causal) exactly float32(−2e12). Consequences,
// identical in every kernel and tested (TestFullyMasked):
//
//   - A row with at least one unmasked key: masked keys get weight
//     exp(≈ −1e12) = exactly 0. Flash, Online and Decode skip the keys in a
//     row's future when that is exact (no user bias, and the row sees at
//     least one key that is not padded), which changes nothing.
//   - A fully masked row (every key padded, or every key in its future):
//     all scores are equal, so the softmax is exactly uniform over the keys
//     carrying the smallest total mask bias, and Out is the plain mean of
//     those keys' V rows — not an attention over the masked scores, and not
//     NaN. E.g. keys padded and all in the future: the mean over the
//     unpadded keys (−1e12 beats −2e12); a row whose visible keys are all
//     padded: the mean over those and the unpadded future keys (−1e12 from
//     padding ties with −1e12 from causality).
//   - Scores with |score| ≥ 32768 (huge inputs) in a masked row keep steps
//     of 65536 and the row degenerates to one-hot at its largest score.
//
// A user Bias of −Inf on every key of a row gives NaN (as in PyTorch).
// Out must not overlap Q, K or V.
//
// # Accuracy
//
// The tests (kernels_test.go) require every kernel to match Reference on
// every output element within
//
//	tol = 4ε · max|V| · (√D + log2(Nk) + 4 + max|S|),   ε = 2⁻²⁴,
//
// for a table of shapes (odd sizes, Nq ≠ Nk, D ∈ {1, 16, 48, 64, 80, 128}),
// three memory layouts ((B, N, H·D) as the model stores it, (B, H, N, D),
// and padded rows), all mask kinds, 1 and 2 threads, and inputs 30× larger
// than unit normal. Measured errors are ≤ 0.1 of tol for unit-normal
// inputs and ≤ 0.25 for the large ones. FuzzKernels does the same on random
// small shapes, masks and layouts.
package attention
