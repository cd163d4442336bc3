package model

import (
	"context"
	"fmt"
	"image"

	"github.com/tessella-ml/tessella/internal/size"
	"github.com/tessella-ml/tessella/model/vqgan"
)

// Model is the whole text-to-image network: encoder, decoder and VQGAN
// detokenizer of one configuration.
type Model struct {
	Config  Config
	Encoder *Encoder
	Decoder *Decoder
	VQGAN   *vqgan.VQGAN // nil when only tokens are wanted
	// Tracer, if non-nil, gets GenerateTokens' per-step sampling
	// distributions; SetTracer also sets the encoder's and decoder's.
	Tracer Tracer
}

// NewModel loads a model. enc and dec supply the encoder and decoder
// state dicts (names without a prefix); vq the VQGAN's, or nil to skip it.
func NewModel(cfg Config, enc, dec, vq Source) (*Model, error) {
	return NewModelWithOptions(cfg, enc, dec, vq, Options{})
}

// GenerateTokens samples n images' tokens (n, ImageTokens) for the two
// text rows (row 0 unconditioned, row 1 the prompt; TextLen ids each):
// it encodes once, then runs ImageTokens decoder steps starting from
// ImageBOS, sampling each step with opts and noise and feeding the sampled
// token to both rows of its image. ctx is checked before every step.
// onStep, if non-nil, is called after step i with all rows: positions
// 0..i are sampled, the rest still hold ImageBOS (min-dalle's fill value,
// which its progressive outputs decode as is). The rows are the result
// being built: copy them to keep them.
func (m *Model) GenerateTokens(ctx context.Context, textRows [][]int, n int, opts SampleOptions,
	noise Noise, onStep func(step int, tokens [][]int)) ([][]int, error) {
	return m.generateTokens(ctx, textRows, n, opts, noise, onStep, nil)
}

// GenerateTokensScored is GenerateTokens that also returns each image's
// per-step TokenLogProbs: how likely the model finds each token it
// sampled when not told the prompt (the engine ranks candidate images by
// CandidateScore of them). It samples exactly the tokens
// GenerateTokens samples.
func (m *Model) GenerateTokensScored(ctx context.Context, textRows [][]int, n int, opts SampleOptions,
	noise Noise, onStep func(step int, tokens [][]int)) ([][]int, []TokenLogProbs, error) {
	if n <= 0 {
		return nil, nil, fmt.Errorf("generate: image count %d must be positive", n)
	}
	lp := make([]TokenLogProbs, n)
	for b := range lp {
		lp[b] = TokenLogProbs{Uncond: make([]float64, 0, m.Config.ImageTokens)}
	}
	tokens, err := m.generateTokens(ctx, textRows, n, opts, noise, onStep, lp)
	if err != nil {
		return nil, nil, err
	}
	return tokens, lp, nil
}

// generateTokens is GenerateTokens; a non-nil lp (n) collects the
// images' per-step log-probabilities.
func (m *Model) generateTokens(ctx context.Context, textRows [][]int, n int, opts SampleOptions,
	noise Noise, onStep func(step int, tokens [][]int), lp []TokenLogProbs) ([][]int, error) {
	cfg := m.Config
	if n <= 0 {
		return nil, fmt.Errorf("generate: image count %d must be positive", n)
	}
	if len(textRows) != 2 {
		return nil, fmt.Errorf("generate: %d text rows, want 2 (unconditioned, conditioned)", len(textRows))
	}
	if noise == nil {
		return nil, fmt.Errorf("generate: nil noise source")
	}
	if err := opts.Validate(cfg.Codebook()); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	encState, err := m.Encoder.Forward(textRows) // (2, T, E)
	if err != nil {
		return nil, err
	}
	state, err := m.Decoder.NewState(encState, textRows, n)
	if err != nil {
		return nil, err
	}
	sampler, err := NewSampler(cfg.Codebook())
	if err != nil {
		return nil, err
	}
	tokens := make([][]int, n) // (n, ImageTokens)
	for b := range tokens {
		tokens[b] = make([]int, cfg.ImageTokens)
		for i := range tokens[b] {
			tokens[b][i] = cfg.ImageBOS
		}
	}
	prev := make([]int, n) // token fed at this step
	next := make([]int, n) // token sampled at this step
	for b := range prev {
		prev[b] = cfg.ImageBOS
	}
	for i := range cfg.ImageTokens {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		logits, err := m.Decoder.Step(state, prev, i) // (2n, Vi+1)
		if err != nil {
			return nil, err
		}
		if err := sampler.Sample(next, logits, cfg.Logits(), opts, noise); err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		if lp != nil {
			if err := AppendLogProbs(lp, logits, cfg.Logits(), cfg.Codebook(), next); err != nil {
				return nil, fmt.Errorf("step %d: %w", i, err)
			}
		}
		if m.Tracer != nil {
			info, err := StepInfos(logits, cfg.Logits(), cfg.Codebook(), opts, next)
			if err != nil {
				return nil, fmt.Errorf("step %d trace: %w", i, err)
			}
			m.Tracer.Step(i, info)
		}
		for b, t := range next {
			tokens[b][i] = t
			prev[b] = t
		}
		if onStep != nil {
			onStep(i, tokens)
		}
	}
	return tokens, nil
}

// Image decodes one image's tokens (GridSide² in raster order) to RGB.
func (m *Model) Image(tokens []int) (*image.RGBA, error) {
	side := m.Config.GridSide()
	return m.decode(tokens, side, side)
}

// GridImage decodes g² images' tokens into one (up·side·g)² image. Without
// seamless each image is decoded alone and placed by Grid; with seamless
// the token maps are tiled first (TileTokens) and decoded as one map.
func (m *Model) GridImage(tokens [][]int, g int, seamless bool) (*image.RGBA, error) {
	side := m.Config.GridSide()
	if gg, ok := size.Mul(g, g); g <= 0 || !ok || len(tokens) != gg {
		return nil, fmt.Errorf("grid image: %d token maps for a %d×%d grid", len(tokens), g, g)
	}
	if !seamless {
		imgs := make([]*image.RGBA, len(tokens))
		for i, t := range tokens {
			img, err := m.decode(t, side, side)
			if err != nil {
				return nil, fmt.Errorf("image %d: %w", i, err)
			}
			imgs[i] = img
		}
		return Grid(imgs, g)
	}
	tiled, err := TileTokens(tokens, g, side)
	if err != nil {
		return nil, err
	}
	return m.decode(tiled, side*g, side*g)
}

func (m *Model) decode(tokens []int, rows, cols int) (*image.RGBA, error) {
	if m.VQGAN == nil {
		return nil, fmt.Errorf("model: no VQGAN loaded")
	}
	raw, err := m.VQGAN.Decode(tokens, rows, cols) // (3, rows·up, cols·up)
	if err != nil {
		return nil, err
	}
	up := m.Config.VQGAN.Upscale()
	return ToRGB(raw, rows*up, cols*up)
}
