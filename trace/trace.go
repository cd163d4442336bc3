package trace

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/tessella-ml/tessella/model"
	"github.com/tessella-ml/tessella/tokenizer"
)

// Source is what a report needs from an engine: the networks and the
// tokenizer. *local.Engine implements it.
type Source interface {
	Model() *model.Model
	Tokenizer() *tokenizer.Tokenizer
}

// exclusive is implemented by engines that serialise model use
// (*local.Engine.Exclusive); Run holds it while it runs the model.
type exclusive interface {
	Exclusive(f func() error) error
}

// Options choose the sampling of the traced run and the report.
type Options struct {
	Seed uint64
	// RNG is "go" (math/rand/v2 PCG, the default) or "torch" (min-dalle's
	// MT19937 stream, so that a seed reproduces the reference's tokens).
	RNG            string
	Temperature    float32 // > 0
	TopK           int     // 0 keeps all; at most the codebook size
	Supercondition float32 // f in uncond·(1−f) + cond·f
	// PreviewEvery is K: the progressive decode re-decodes the image after
	// every K sampled tokens (and after the last one). 0 means
	// ImageTokens/16.
	PreviewEvery int
	OutDir       string // the report's directory (created if missing)
	// Force lets Run write the report into an OutDir that already holds
	// files, replacing any of the same names (see CheckOutDir). Without it
	// Run refuses such a folder before it runs the model.
	Force bool `json:"-"`
}

// DefaultOptions are min-dalle's sampling defaults (T = 1, top-k 256,
// supercondition 16), top-k clamped to the codebook, K = ImageTokens/16.
func DefaultOptions(cfg model.Config) Options {
	return Options{RNG: "go", Temperature: 1, TopK: min(256, cfg.Codebook()), Supercondition: 16,
		PreviewEvery: max(1, cfg.ImageTokens/16)}
}

func (o Options) sample() model.SampleOptions {
	return model.SampleOptions{Temperature: o.Temperature, TopK: o.TopK, Supercondition: o.Supercondition}
}

// Frame is one image of the progressive decode: the tokens after Step
// sampled tokens (positions ≥ Step still hold the fill value) decoded.
type Frame struct {
	Step  int // tokens sampled so far, 1..ImageTokens
	Image *image.RGBA
}

// Trace is everything a report shows, recorded from one traced run of one
// image (n = 1). Attention probabilities are kept for the conditioned
// (prompt) row only.
type Trace struct {
	Prompt  string
	Config  model.Config
	Options Options

	TextIDs    []int    // the conditioned text row (TextLen ids, PAD-filled)
	TextLabels []string // a label per text position: "<s>", subwords, "</s>", "<pad>"
	TextValid  []int    // positions of the conditioned row that are not PAD (the attended keys)

	// Encoder[l] is layer l's self-attention of the prompt row, (1, H, T, T).
	Encoder []model.Probs
	// DecoderSelf[l] is (1, H, S, S): row i is step i's query over cache
	// slots 0..i; entries j > i are 0 (min-dalle's masked future slots).
	DecoderSelf []model.Probs
	// Cross[l] is (1, H, S, T): row i is step i's query (which predicts
	// image token i) over the text positions.
	Cross []model.Probs
	Steps []model.StepInfo // per step, image 0

	Tokens []int       // the sampled image tokens (S), raster order
	Image  *image.RGBA // the final image at native size
	Frames []Frame     // the progressive decode, every PreviewEvery tokens and the last

	Timings map[string]time.Duration
}

// recorder is the model.Tracer that fills a Trace.
type recorder struct {
	t    *Trace
	n    int // images in the batch: the prompt row is n (rows 0..n−1 unconditioned)
	s, h int // image tokens, heads
}

func (r *recorder) EncoderAttention(layer int, p model.Probs) {
	if layer >= len(r.t.Encoder) || p.Batch < 2 {
		return
	}
	q := model.Probs{Data: make([]float32, p.Heads*p.QLen*p.KVLen), Batch: 1, Heads: p.Heads, QLen: p.QLen, KVLen: p.KVLen}
	copy(q.Data, p.Data[p.Heads*p.QLen*p.KVLen:]) // batch row 1: the prompt
	r.t.Encoder[layer] = q
}

func (r *recorder) DecoderSelfAttention(step, layer int, p model.Probs) {
	if layer >= len(r.t.DecoderSelf) || p.Batch <= r.n || step >= r.s {
		return
	}
	d := r.t.DecoderSelf[layer]
	for h := range min(p.Heads, r.h) {
		copy(d.Row(0, h, step)[:p.KVLen], p.Row(r.n, h, 0))
	}
}

func (r *recorder) CrossAttention(step, layer int, p model.Probs) {
	if layer >= len(r.t.Cross) || p.Batch <= r.n || step >= r.s {
		return
	}
	c := r.t.Cross[layer]
	for h := range min(p.Heads, r.h) {
		copy(c.Row(0, h, step), p.Row(r.n, h, 0))
	}
}

func (r *recorder) Step(step int, info []model.StepInfo) {
	if step < len(r.t.Steps) && len(info) > 0 {
		r.t.Steps[step] = info[0]
	}
}

// textLabels names each position of the conditioned row.
func textLabels(tok *tokenizer.Tokenizer, prompt string, row []int, pad int) []string {
	sub := tok.Subwords(prompt)
	labels := make([]string, len(row))
	for j, id := range row {
		switch {
		case id == pad:
			labels[j] = "<pad>"
		case id == tok.BOS() && j == 0:
			labels[j] = "<s>"
		case id == tok.EOS():
			labels[j] = "</s>"
		case j-1 < len(sub):
			labels[j] = sub[j-1]
		default:
			labels[j] = fmt.Sprintf("#%d", id)
		}
	}
	return labels
}

// Record runs the model on prompt with a tracer attached and returns the
// trace: one image, its attention probabilities, per-step distributions and
// the progressive decode. The model must have a VQGAN. The model's tracer
// (and its encoder's and decoder's) is set back to what it was, usually
// nil, before Record returns. Record writes nothing: opts.OutDir and
// opts.Force are only kept in the trace's Options.
func Record(ctx context.Context, m *model.Model, tok *tokenizer.Tokenizer, prompt string, opts Options) (*Trace, error) {
	if m == nil || tok == nil {
		return nil, errors.New("trace: no model or tokenizer")
	}
	if m.VQGAN == nil {
		return nil, errors.New("trace: the model has no VQGAN")
	}
	cfg := m.Config
	if opts.PreviewEvery <= 0 {
		opts.PreviewEvery = max(1, cfg.ImageTokens/16)
	}
	if opts.RNG == "" {
		opts.RNG = "go"
	}
	if err := opts.sample().Validate(cfg.Codebook()); err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	var noise model.Noise
	switch opts.RNG {
	case "go":
		noise = model.NewGoRNG(opts.Seed)
	case "torch":
		noise = model.NewTorchRNG(opts.Seed)
	default:
		return nil, fmt.Errorf("trace: unknown rng %q (want go or torch)", opts.RNG)
	}

	S, H, T := cfg.ImageTokens, cfg.Heads, cfg.TextLen
	ids := tok.Tokenize(prompt)
	uncond, cond := tokenizer.TextRows(ids, T)
	t := &Trace{Prompt: prompt, Config: cfg, Options: opts, TextIDs: cond,
		TextLabels: textLabels(tok, prompt, cond, cfg.TextPad),
		Encoder:    make([]model.Probs, cfg.EncoderLayers),
		Steps:      make([]model.StepInfo, S),
		Timings:    map[string]time.Duration{}}
	for j, id := range cond {
		if id != cfg.TextPad {
			t.TextValid = append(t.TextValid, j)
		}
	}
	for range cfg.DecoderLayers {
		t.DecoderSelf = append(t.DecoderSelf, model.Probs{Data: make([]float32, H*S*S), Batch: 1, Heads: H, QLen: S, KVLen: S})
		t.Cross = append(t.Cross, model.Probs{Data: make([]float32, H*S*T), Batch: 1, Heads: H, QLen: S, KVLen: T})
	}

	defer restoreTracers(m)()
	m.SetTracer(&recorder{t: t, n: 1, s: S, h: H})
	start := time.Now()
	var frameTime time.Duration
	var frameErr error
	tokens, err := m.GenerateTokens(ctx, [][]int{uncond, cond}, 1, opts.sample(), noise, func(i int, rows [][]int) {
		if frameErr != nil || ((i+1)%opts.PreviewEvery != 0 && i+1 != S) {
			return
		}
		f0 := time.Now()
		var img *image.RGBA
		img, frameErr = decodeFilled(m, rows[0])
		t.Frames = append(t.Frames, Frame{Step: i + 1, Image: img})
		frameTime += time.Since(f0)
	})
	if err == nil {
		err = frameErr
	}
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	t.Timings["sample (traced)"] = time.Since(start) - frameTime
	t.Timings["progressive decode"] = frameTime
	t.Tokens = tokens[0]
	t.Image = t.Frames[len(t.Frames)-1].Image // the last frame is the final image
	return t, nil
}

// restoreTracers returns a func that puts back the tracers m, its encoder
// and its decoder have now (each may differ, or be nil).
func restoreTracers(m *model.Model) func() {
	mt := m.Tracer
	var et, dt model.Tracer
	if m.Encoder != nil {
		et = m.Encoder.Tracer
	}
	if m.Decoder != nil {
		dt = m.Decoder.Tracer
	}
	return func() {
		m.Tracer = mt
		if m.Encoder != nil {
			m.Encoder.Tracer = et
		}
		if m.Decoder != nil {
			m.Decoder.Tracer = dt
		}
	}
}

// decodeFilled decodes a partial token row (see model.PreviewTokens).
func decodeFilled(m *model.Model, row []int) (*image.RGBA, error) {
	return m.Image(model.PreviewTokens(row, m.Config.Codebook()))
}

// Run traces prompt on src's model and writes the report to
// opts.OutDir/index.html (see Write). An OutDir that already holds files is
// refused, before the model runs, unless opts.Force is set (CheckOutDir).
// If src serialises model use (local.Engine's Exclusive), the run holds it.
func Run(ctx context.Context, src Source, prompt string, opts Options) error {
	if src == nil || src.Model() == nil {
		return errors.New("trace: no model")
	}
	if opts.OutDir == "" {
		return errors.New("trace: no output directory")
	}
	if err := CheckOutDir(opts.OutDir, opts.Force); err != nil {
		return err
	}
	var t *Trace
	record := func() error {
		var err error
		t, err = Record(ctx, src.Model(), src.Tokenizer(), prompt, opts)
		return err
	}
	var err error
	if ex, ok := src.(exclusive); ok {
		err = ex.Exclusive(record)
	} else {
		err = record()
	}
	if err != nil {
		return err
	}
	return t.Write(ctx, src.Model(), opts.OutDir, opts.Force)
}
