//go:build !amd64 || purego

package matmul

// lowpKernels: no fused reduced-precision kernels in this build; Forward
// dequantises into float32 chunks and runs the engine's Gemm.
const lowpKernels = false

func (lp *lowp) gemv(e *Engine, n, k int, y, x []float32, m int) { lp.viaF32(e, n, k, y, x, m) }
