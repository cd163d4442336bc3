package model

import (
	"fmt"
	"slices"

	"github.com/tessella-ml/tessella/internal/vec"
)

// TokenLogProbs holds one image's per-step log-probabilities, in nats:
// Uncond[i] = log p(t_i | t_<i, empty prompt), p the softmax of that
// step's unconditioned decoder row's raw logits over the codebook at the
// sampled token t_i (supercondition, temperature and top-k shape the
// sampling, not these). The conditioned rows' log-probabilities are not
// kept: CandidateScore, their one reader, uses the unconditioned ones.
type TokenLogProbs struct {
	Uncond []float64 // (steps so far)
}

// AppendLogProbs appends one decoder step to each image's TokenLogProbs.
// logits is the step's (2n, rowLen) output, rows 0..n−1 unconditioned and
// n..2n−1 conditioned (as Sampler.Sample takes them; only the first n are
// read); chosen holds the n sampled tokens; only the first width columns
// count. For image b with token t, in float64:
//
//	Uncond += uncond_b[t] − max uncond_b − log Σ_j exp(uncond_b[j] − max uncond_b)
//
// It reads only the logits the sampler already has: no extra network pass.
func AppendLogProbs(dst []TokenLogProbs, logits []float32, rowLen, width int, chosen []int) error {
	n := len(chosen)
	switch {
	case n == 0 || len(dst) != n:
		return fmt.Errorf("log-probabilities: %d slots for %d images", len(dst), n)
	case width <= 0 || rowLen < width:
		return fmt.Errorf("log-probabilities: width %d outside (0, %d]", width, rowLen)
	case len(logits) != 2*n*rowLen:
		return fmt.Errorf("log-probabilities: %d logits, want 2·%d·%d", len(logits), n, rowLen)
	}
	for b, t := range chosen {
		if t < 0 || t >= width {
			return fmt.Errorf("log-probabilities: image %d token %d outside [0, %d)", b, t, width)
		}
	}
	for b, t := range chosen {
		dst[b].Uncond = append(dst[b].Uncond, logSoftmaxAt(logits[b*rowLen:][:width], t))
	}
	return nil
}

// logSoftmaxAt returns log softmax(x)[t] in float64. NaN logits give NaN.
func logSoftmaxAt(x []float32, t int) float64 {
	top, logSum := vec.LogSumExp64(x)
	return float64(x[t]) - top - logSum
}

// CandidateTail is how many of an image's least likely tokens
// CandidateScore sums.
const CandidateTail = 10

// CandidateScore ranks candidate images sampled for one prompt (larger is
// better): the sum of the CandidateTail smallest Uncond log-probabilities,
// i.e. how unlikely the image's worst tokens are to the model when it is
// not told the prompt. Chosen by measurement among sums, minima and tails
// of both log-probabilities (docs/default-model.md, "Best of K
// candidates"): a stray token, the start of a wrong blob, is plausibly
// what it catches, where a sum over all 256 tokens is dominated by the
// many easy background ones. NaN log-probabilities give NaN (the engine
// ranks them last).
func CandidateScore(lp TokenLogProbs) float64 {
	low := slices.Clone(lp.Uncond)
	slices.Sort(low) // NaN first
	var s float64
	for _, v := range low[:min(CandidateTail, len(low))] {
		s += v
	}
	return s
}
