// Package trace records one run of the text-to-image model with a
// model.Tracer attached and writes an offline HTML report of it
// (`tessella trace`), and renders terminal previews (`tessella generate
// --ascii`).
//
// # What is recorded (Record)
//
// One image (n = 1) is sampled from the prompt. For the prompt
// (conditioned) row only, with L layers, H heads, T text positions and
// S = GridSide² image tokens:
//
//	Encoder[l]      (1, H, T, T)  P = softmax(Q·Kᵀ/√D − 1e12·pad) of encoder layer l
//	DecoderSelf[l]  (1, H, S, S)  row i: step i's query over cache slots 0..i (0 beyond)
//	Cross[l]        (1, H, S, T)  row i: step i's query over the text positions
//	Steps[i]                      the sampling distribution of step i (model.StepInfo)
//	Frames                        the image re-decoded every K tokens, unsampled
//	                              positions holding the fill value ImageBOS
//
// The probabilities are recomputed from the Q and K buffers by
// model.AttentionProbs when the tracer is called (kernels never store P),
// so every row sums to 1.
//
// # The report (Trace.Write)
//
// index.html with inline CSS and relative links only (it opens offline):
// the final image, the progressive GIF, the token map (one colour per code)
// and the most used codes decoded alone; for each text token the
// cross-attention over the image grid averaged over layers and heads and
// per layer and head, overlaid on the final image (cell s of the grid is
// P[s, j] of the query that predicts token s); encoder and decoder
// self-attention matrices as small multiples; plots (gonum.org/v1/plot) of
// the per-step top-k probability mass, the entropy −Σ p ln p and the rank of
// the sampled token among the mixed logits. Trace.Files lists every file.
//
// # Previews (ASCII)
//
// ASCII turns an image into a few lines of text: ANSI 24-bit colour upper
// half blocks (two pixel rows per character) or a plain luminance ramp.
package trace
