package model

import (
	"fmt"
	"math"
)

// LogLik is the log-likelihood, in nats, of one image's sampled tokens
// under the decoder's two distributions: Cond = Σ_i log p(t_i | t_<i,
// prompt), Uncond = Σ_i log p(t_i | t_<i, empty prompt), each p the
// softmax of that row's raw logits over the codebook (no supercondition,
// temperature or top-k: those shape the sampling, not the model).
type LogLik struct {
	Cond, Uncond float64
}

// AddLogLik adds one decoder step to each image's LogLik. logits is the
// step's (2n, rowLen) output, rows 0..n−1 unconditioned and n..2n−1
// conditioned (as Sampler.Sample takes them); chosen holds the n sampled
// tokens; only the first width columns count. For image b with token t,
// in float64:
//
//	dst[b].Cond   += cond_b[t]   − max cond_b   − log Σ_j exp(cond_b[j]   − max cond_b)
//	dst[b].Uncond += uncond_b[t] − max uncond_b − log Σ_j exp(uncond_b[j] − max uncond_b)
//
// It reads only the logits the sampler already has: no extra network pass.
func AddLogLik(dst []LogLik, logits []float32, rowLen, width int, chosen []int) error {
	n := len(chosen)
	switch {
	case n == 0 || len(dst) != n:
		return fmt.Errorf("log-likelihood: %d slots for %d images", len(dst), n)
	case width <= 0 || rowLen < width:
		return fmt.Errorf("log-likelihood: width %d outside (0, %d]", width, rowLen)
	case len(logits) != 2*n*rowLen:
		return fmt.Errorf("log-likelihood: %d logits, want 2·%d·%d", len(logits), n, rowLen)
	}
	for b, t := range chosen {
		if t < 0 || t >= width {
			return fmt.Errorf("log-likelihood: image %d token %d outside [0, %d)", b, t, width)
		}
		dst[b].Uncond += logSoftmaxAt(logits[b*rowLen:][:width], t)
		dst[b].Cond += logSoftmaxAt(logits[(n+b)*rowLen:][:width], t)
	}
	return nil
}

// logSoftmaxAt returns log softmax(x)[t] in float64. NaN logits give NaN.
func logSoftmaxAt(x []float32, t int) float64 {
	top := math.Inf(-1)
	for _, v := range x {
		top = max(top, float64(v))
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v) - top)
	}
	return float64(x[t]) - top - math.Log(sum)
}
