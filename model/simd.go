package model

// LayerNorm pieces. The statistics come from internal/vec (float64 sums,
// eight lanes on AVX-512); normAffine dispatches to the AVX-512 kernel
// (simd_amd64.s) when the CPU has it and the build allows assembly (no
// purego tag), and otherwise runs normAffinePlain. The kernel rounds exactly
// as the plain loop (float64 normalisation, one conversion, float32
// multiply and add rounded separately). The GLU block's GELU kernel is
// internal/vec's GELUMul.

// normAffine sets y[i] = float32((x[i] − mean)·inv)·w[i] + b[i]; y may be x;
// w and b are at least len(x) long.
func normAffine(y, x, w, b []float32, mean, inv float64) {
	y, w, b = y[:len(x)], w[:len(x)], b[:len(x)]
	if normAffineSIMD(y, x, w, b, mean, inv) {
		return
	}
	normAffinePlain(y, x, w, b, mean, inv)
}

func normAffinePlain(y, x, w, b []float32, mean, inv float64) {
	y, w, b = y[:len(x)], w[:len(x)], b[:len(x)]
	for i, v := range x {
		y[i] = float32((float64(v)-mean)*inv)*w[i] + b[i]
	}
}
