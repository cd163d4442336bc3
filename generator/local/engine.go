// Package local is the engine on this machine: it finds a model's files,
// loads them (package weights) into the networks (package model), and
// implements generator.Generator: prompt → tokenizer → encoder → decoder
// steps + sampler → image tokens → VQGAN → image.
package local

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/model"
	"github.com/tessella-ml/tessella/model/judge"
	"github.com/tessella-ml/tessella/tokenizer"
	"github.com/tessella-ml/tessella/weights"
)

// Options choose the model.
type Options struct {
	// Model is "" (the default model), "mini" or "mega" (looked up in
	// ModelsDir), a directory, or "mini-random" / "mega-random" / "tiny-random"
	// (random weights of those shapes, made in memory, for benchmarks).
	Model     string
	ModelsDir string // "" → ModelsDir()
	Threads   int    // 0 → GOMAXPROCS
	// DType is the precision the encoder's and decoder's Linear weights
	// are kept in: "" or "f32", "f16", "bf16", "q8" (model.WeightDType),
	// converted while loading whatever the files hold.
	DType string
	// NoJudge ranks candidates by model.CandidateScore even when the
	// model file carries a judge (for comparisons).
	NoJudge bool
}

// Defaults are a model's sampling defaults.
type Defaults struct {
	Temperature    float64
	TopK           int
	Supercondition float64
	Scale          int
	// Candidates is how many images are sampled for each one returned
	// (the one the judge, or else model.CandidateScore, ranks first is
	// kept; see Engine.Generate).
	Candidates int
}

// Engine runs one loaded model. Generate calls are serialised: the
// networks keep per-model work buffers, and one generation already uses
// every core.
type Engine struct {
	name        string
	model       *model.Model
	tok         *tokenizer.Tokenizer
	defaults    Defaults
	closers     []io.Closer
	threads     int
	modelOpts   model.Options // load options from Options.DType (dtype.go)
	judge       *judge.Judge  // ranks candidates when the model file carries one
	judgeSelf   float64       // w in the judge's score log p(prompt | image) + w·CandidateScore (+ c·critic)
	critic      *judge.Critic // nil: none; only beside a judge
	judgeCritic float64       // c in that score
	noJudge     bool          // Options.NoJudge
	mu          sync.Mutex
}

// Open loads the model opts name.
func Open(opts Options) (*Engine, error) {
	dir := opts.ModelsDir
	if dir == "" {
		dir = ModelsDir()
	}
	e := &Engine{threads: opts.Threads, noJudge: opts.NoJudge, defaults: Defaults{Temperature: 1, TopK: 256, Supercondition: 16, Scale: 1, Candidates: 1}}
	var err error
	if e.modelOpts, err = modelOptions(opts); err != nil {
		return nil, err
	}
	switch opts.Model {
	case "":
		err = e.openDefault()
	case "mini-random", "mega-random", "tiny-random":
		err = e.openRandom(opts.Model)
	default:
		if isModelFile(opts.Model) {
			err = e.openModelFile(opts.Model)
			break
		}
		var f Files
		if f, err = Locate(opts.Model, dir); err == nil {
			err = e.openFiles(opts.Model, f)
		}
	}
	if err != nil {
		e.Close()
		return nil, err
	}
	e.setThreads()
	e.defaults.TopK = min(e.defaults.TopK, e.model.Config.Codebook())
	return e, nil
}

// setThreads bounds every stage's goroutines by Options.Threads: the
// attention kernels and the VQGAN here; the matrix multiplies were given
// their own engine at load (model.Options.Threads), so two engines in one
// process keep their own counts.
func (e *Engine) setThreads() {
	e.model.Encoder.Threads = e.threads
	e.model.Decoder.Threads = e.threads
	if e.model.VQGAN != nil {
		e.model.VQGAN.Threads = e.threads
	}
}

// openFiles loads min-dalle-layout files.
func (e *Engine) openFiles(name string, f Files) error {
	tok, err := tokenizer.Load(f.Vocab, f.Merges)
	if err != nil {
		return err
	}
	var files [3]*weights.File
	for i, p := range []string{f.Encoder, f.Decoder, f.VQGAN} {
		if files[i], err = weights.Open(p); err != nil {
			return err
		}
		e.closers = append(e.closers, files[i])
	}
	cfg, err := model.InferConfig(files[0], files[1])
	if err != nil {
		return fmt.Errorf("%s: %w", f.Dir, err)
	}
	if f.Config != "" {
		b, err := os.ReadFile(f.Config)
		if err != nil {
			return err
		}
		if cfg, err = model.MergeJSON(cfg, b); err != nil {
			return fmt.Errorf("%s: %w", f.Config, err)
		}
	}
	if tok.VocabSize() > cfg.TextVocab {
		return fmt.Errorf("%s: the tokenizer has %d ids but the encoder embeds only %d", f.Vocab, tok.VocabSize(), cfg.TextVocab)
	}
	m, err := e.newModel(cfg, files[0], files[1], files[2])
	if err != nil {
		return err
	}
	e.name, e.model, e.tok = name, m, tok
	return nil
}

// Name is "local:" and the model's name.
func (e *Engine) Name() string { return "local:" + e.name }

// Model returns the loaded networks.
func (e *Engine) Model() *model.Model { return e.model }

// Tokenizer returns the model's tokenizer.
func (e *Engine) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// Defaults returns the model's sampling defaults.
func (e *Engine) Defaults() Defaults { return e.defaults }

// NativeSize is the pixel size of one image at the model's default scale
// (what Generate returns without Request.Scale).
func (e *Engine) NativeSize() (w, h int) {
	s := e.model.Config.GridSide() * e.model.Config.VQGAN.Upscale() * e.defaults.Scale
	return s, s
}

// Close releases the model's files.
func (e *Engine) Close() error {
	var errs []error
	for _, c := range e.closers {
		errs = append(errs, c.Close())
	}
	e.closers = nil
	return errors.Join(errs...)
}

// Limits on what one call may ask for: the grid side (G² images), the
// nearest-neighbour enlargement, the candidates per image and the threads
// (goroutines per stage; each holds its own scratch, so an absurd count
// would exhaust memory long before it helped).
const (
	MaxGrid       = 8
	MaxScale      = 16
	MaxCandidates = 16
	MaxThreads    = 1024
)

// RandomSeed draws a seed from the operating system.
func RandomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 33 // small enough to type back; > 0 like min-dalle's seeds
}

// Generate implements generator.Generator.
func (e *Engine) Generate(ctx context.Context, req *generator.Request) (*generator.Result, error) {
	if err := checkLocalRequest(req); err != nil {
		return nil, err
	}
	if req.Threads != 0 && req.Threads != e.threads {
		// The matrix multiplies' goroutines are fixed when the weights load.
		return nil, generator.Invalid("threads", "threads %d: this engine was opened with %d (0: all cores); set Options.Threads when opening it", req.Threads, e.threads)
	}
	opts := model.SampleOptions{Temperature: float32(e.defaults.Temperature), TopK: e.defaults.TopK,
		Supercondition: float32(e.defaults.Supercondition)}
	if req.Temperature != nil {
		opts.Temperature = float32(*req.Temperature)
	}
	if req.TopK != nil {
		opts.TopK = *req.TopK
	}
	if req.Supercondition != nil {
		opts.Supercondition = float32(*req.Supercondition)
	}
	if err := opts.Validate(e.model.Config.Codebook()); err != nil {
		// The refused option names the request's field; one the request
		// did not set is the model's own default.
		var oe *model.OptionError
		if errors.As(err, &oe) && (oe.Option == "temperature" && req.Temperature != nil ||
			oe.Option == "top_k" && req.TopK != nil || oe.Option == "supercondition" && req.Supercondition != nil) {
			return nil, generator.Invalid(oe.Option, "%v", err)
		}
		return nil, fmt.Errorf("sampling defaults: %w", err)
	}
	scale := e.defaults.Scale
	if req.Scale > 0 {
		scale = req.Scale
	}
	if req.Scale < 0 || req.Scale > MaxScale {
		return nil, generator.Invalid("scale", "scale %d outside [1, %d]", req.Scale, MaxScale)
	}
	if req.Grid > MaxGrid {
		return nil, generator.Invalid("grid", "grid %d: at most %d (%d images)", req.Grid, MaxGrid, MaxGrid*MaxGrid)
	}
	seed := RandomSeed()
	if req.Seed != nil {
		seed = *req.Seed
	}
	g := max(req.Grid, 1)
	n := g * g // images returned (one PNG when g > 1)
	if g == 1 {
		n = max(req.N, 1) // separate images, one batch
	}
	if req.Candidates < 0 || req.Candidates > MaxCandidates {
		return nil, generator.Invalid("candidates", "candidates %d outside [1, %d]", req.Candidates, MaxCandidates)
	}
	k := e.defaults.Candidates // ≥ 1: set by Open, or read from the model file within [1, MaxCandidates]
	if req.Candidates != 0 {
		k = req.Candidates
	}
	if k > 1 && n*k > MaxGrid*MaxGrid { // every sampled row holds its own KV cache
		return nil, generator.Invalid("candidates", "%d images × %d candidates: at most %d images are sampled together", n, k, MaxGrid*MaxGrid)
	}
	// firsts views the n·k sampled rows (image o's candidates are rows
	// o·k … o·k+k−1) as one row per returned image: its first candidate.
	firsts := func(rows [][]int) [][]int {
		if k == 1 {
			return rows
		}
		out := make([][]int, n)
		for o := range out {
			out[o] = rows[o*k]
		}
		return out
	}
	rng := req.RNG
	if rng == "" {
		rng = "go"
	}
	var noise model.Noise
	switch rng {
	case "go":
		noise = model.NewGoRNG(seed)
	case "torch":
		noise = model.NewTorchRNG(seed)
	default:
		return nil, generator.Invalid("rng", "unknown rng %q (want go or torch)", req.RNG)
	}
	every := req.PreviewEvery
	if every == 0 && req.Previews > 0 {
		every = max(1, e.model.Config.ImageTokens/(req.Previews+1))
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.model.Config
	start := time.Now()
	ids := e.tok.Tokenize(req.Prompt)
	uncond, cond := tokenizer.TextRows(ids, cfg.TextLen)
	progress := func(stage string, done, total int, preview image.Image, toks [][]int) {
		if req.Progress != nil {
			req.Progress(generator.Progress{Stage: stage, Done: done, Total: total, Preview: preview, Tokens: toks})
		}
	}
	progress("decode", 0, cfg.ImageTokens, nil, nil)
	var stepErr error
	onStep := func(i int, toks [][]int) {
		toks = firsts(toks)
		var preview image.Image
		if every > 0 && (i+1)%every == 0 && i+1 < cfg.ImageTokens && stepErr == nil {
			partial := make([][]int, len(toks)) // unsampled positions hold the fill value
			for b, row := range toks {
				partial[b] = model.PreviewTokens(row, cfg.Codebook())
			}
			if g == 1 {
				partial = partial[:1] // separate images: preview the first
			}
			preview, stepErr = e.compose(ctx, partial, g, req.Seamless, scale)
		}
		progress("decode", i+1, cfg.ImageTokens, preview, toks)
	}
	var tokens [][]int
	var picked []int          // with k > 1: the row of all that each image kept
	var decoded []*image.RGBA // with the judge: every candidate's image, by row
	var ranking string        // with k > 1: "judge" or "self"
	var ranked time.Duration  // time spent ranking (decoding candidates, the judge)
	var err error
	if k == 1 {
		tokens, err = e.model.GenerateTokens(ctx, [][]int{uncond, cond}, n, opts, noise, onStep)
	} else {
		var all [][]int
		var lp []model.TokenLogProbs
		all, lp, err = e.model.GenerateTokensScored(ctx, [][]int{uncond, cond}, n*k, opts, noise, onStep)
		if err == nil {
			var scores []float64
			t0 := time.Now()
			scores, decoded, ranking, err = e.rankCandidates(ctx, cond, len(ids) > 2, all, lp, func(done int) {
				progress("rank", done, len(all), nil, nil)
			})
			ranked = time.Since(t0)
			if err == nil {
				picked = pickCandidates(scores, n, k)
				tokens = make([][]int, n)
				for o, r := range picked {
					tokens[o] = all[r]
				}
			}
		}
	}
	if err == nil {
		err = stepErr
	}
	if err != nil {
		return nil, err
	}
	sampled := time.Now()
	// The decoder's per-generation buffers (its KV cache: 50 MB for DALL·E
	// Mini) are garbage now; collect them before the VQGAN allocates its
	// workspace, so that the two are not resident together (measured on
	// Mini fp32: peak RSS 2179 → 2101 MiB; the weights hold no pointers, so
	// the collection does not scan them).
	runtime.GC()
	progress("vqgan", 0, 1, nil, tokens)
	res := &generator.Result{Seed: seed, Tokens: tokens, Created: start}
	if g > 1 {
		var img image.Image
		if decoded != nil && !req.Seamless { // the judge has decoded every cell's pick already
			cells := make([]*image.RGBA, n)
			for o, r := range picked {
				cells[o] = decoded[r]
			}
			grid, err := model.Grid(cells, g)
			if err != nil {
				return nil, err
			}
			img = enlarge(grid, scale)
		} else if img, err = e.compose(ctx, tokens, g, req.Seamless, scale); err != nil {
			return nil, err
		}
		res.Images = []generator.Image{{Image: img}}
	} else {
		for o, t := range tokens {
			var img image.Image
			if decoded != nil { // the judge has decoded every candidate already
				img = enlarge(decoded[picked[o]], scale)
			} else if img, err = e.compose(ctx, [][]int{t}, 1, false, scale); err != nil {
				return nil, err
			}
			res.Images = append(res.Images, generator.Image{Image: img, Tokens: t})
		}
	}
	progress("vqgan", 1, 1, nil, tokens)
	done := time.Now()
	res.Timings = []generator.Timing{{Stage: "decode", Duration: sampled.Sub(start) - ranked}}
	if decoded != nil { // ranked by the judge: decoding and scoring the candidates
		res.Timings = append(res.Timings, generator.Timing{Stage: "rank", Duration: ranked})
	}
	res.Timings = append(res.Timings, generator.Timing{Stage: "vqgan", Duration: done.Sub(sampled)})
	res.Metadata = map[string]string{
		"prompt": req.Prompt, "backend": "local", "model": e.name, "seed": strconv.FormatUint(seed, 10),
		"rng": rng, "temperature": fmt.Sprint(opts.Temperature), "top-k": strconv.Itoa(opts.TopK),
		"supercondition": fmt.Sprint(opts.Supercondition), "grid": strconv.Itoa(g),
		"seamless": strconv.FormatBool(req.Seamless), "scale": strconv.Itoa(scale),
		"software": "tessella " + Version,
	}
	if k > 1 {
		res.Metadata["candidates"] = strconv.Itoa(k)
		res.Metadata["ranking"] = ranking
	}
	return res, nil
}

// pickCandidates returns, for each of the n returned images, the row among
// o·k … o·k+k−1 with the largest score (the first on ties; NaN never wins
// over a number).
func pickCandidates(scores []float64, n, k int) []int {
	out := make([]int, n)
	for o := range out {
		best := o * k
		for r := o*k + 1; r < (o+1)*k; r++ {
			if scores[r] > scores[best] || (math.IsNaN(scores[best]) && !math.IsNaN(scores[r])) {
				best = r
			}
		}
		out[o] = best
	}
	return out
}

// rankCandidates scores every sampled row. With a judge (a model file that
// carries one, not disabled by Options.NoJudge) and a prompt that has
// words (more tokens than BOS and EOS), each candidate is decoded and scored by the judge against the
// prompt's token row cond, plus the file's judge.self_weight times
// model.CandidateScore and, with a critic, judge.critic_weight times the
// critic's score of the image (ranking "judge"; the decoded images are
// returned, by row, and judged is called after each); otherwise the score
// is model.CandidateScore of the row's log-probabilities (ranking "self").
func (e *Engine) rankCandidates(ctx context.Context, cond []int, words bool, rows [][]int, lp []model.TokenLogProbs, judged func(done int)) ([]float64, []*image.RGBA, string, error) {
	scores := make([]float64, len(rows))
	if e.judge == nil || e.noJudge || !words {
		for r := range lp {
			scores[r] = model.CandidateScore(lp[r])
		}
		return scores, nil, "self", nil
	}
	imgs := make([]*image.RGBA, len(rows))
	for r, row := range rows {
		if err := ctx.Err(); err != nil {
			return nil, nil, "", err
		}
		img, err := e.model.Image(row)
		if err != nil {
			return nil, nil, "", fmt.Errorf("candidate %d: %w", r, err)
		}
		imgs[r] = img
		mem, err := e.judge.ImageMemory(img)
		if err != nil {
			return nil, nil, "", err
		}
		s, err := e.judge.Score(cond, mem)
		if err != nil {
			return nil, nil, "", err
		}
		scores[r] = s + e.judgeSelf*model.CandidateScore(lp[r])
		if e.critic != nil && e.judgeCritic != 0 {
			c, err := e.critic.Score(img)
			if err != nil {
				return nil, nil, "", err
			}
			scores[r] += e.judgeCritic * c
		}
		judged(r + 1)
	}
	return scores, imgs, "judge", nil
}

// Version is written into image metadata; the CLI sets it.
var Version = "dev"

// compose decodes g² token rows into one image (a grid, or one seamless
// map) and enlarges it by scale.
// ctx is checked between the images of a grid.
func (e *Engine) compose(ctx context.Context, tokens [][]int, g int, seamless bool, scale int) (image.Image, error) {
	var img *image.RGBA
	var err error
	switch {
	case g == 1 && len(tokens) == 1:
		img, err = e.model.Image(tokens[0])
	case seamless:
		img, err = e.model.GridImage(tokens, g, true)
	default:
		imgs := make([]*image.RGBA, len(tokens))
		for i, t := range tokens {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if imgs[i], err = e.model.Image(t); err != nil {
				return nil, fmt.Errorf("image %d: %w", i, err)
			}
		}
		img, err = model.Grid(imgs, g)
	}
	if err != nil {
		return nil, err
	}
	return enlarge(img, scale), nil
}

// Decode turns image-token rows back into one image: a single row is one
// image, g² rows a grid (column-major, as generation lays them out).
func (e *Engine) Decode(ctx context.Context, tokens [][]int, seamless bool, scale int) (image.Image, error) {
	cfg := e.model.Config
	if len(tokens) == 0 {
		return nil, errors.New("decode: no token rows")
	}
	if len(tokens) > MaxGrid*MaxGrid {
		return nil, fmt.Errorf("decode: %d token rows; at most %d (a %d×%d grid)", len(tokens), MaxGrid*MaxGrid, MaxGrid, MaxGrid)
	}
	if scale < 0 || scale > MaxScale {
		return nil, fmt.Errorf("decode: scale %d outside [1, %d]", scale, MaxScale)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g := 1
	for g*g < len(tokens) {
		g++
	}
	if g*g != len(tokens) {
		return nil, fmt.Errorf("decode: %d token rows is not a square grid (1, 4, 9, …)", len(tokens))
	}
	for i, row := range tokens {
		if len(row) != cfg.ImageTokens {
			return nil, fmt.Errorf("decode: row %d has %d tokens, want %d", i, len(row), cfg.ImageTokens)
		}
		for j, t := range row {
			if t < 0 || t >= cfg.Codebook() {
				return nil, fmt.Errorf("decode: row %d token %d is %d, outside [0, %d)", i, j, t, cfg.Codebook())
			}
		}
	}
	if scale <= 0 {
		scale = e.defaults.Scale
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.compose(ctx, tokens, g, seamless, scale)
}

// checkLocalRequest refuses the remote-only fields and the local ones out
// of range.
func checkLocalRequest(req *generator.Request) error {
	if req == nil {
		return errors.New("local engine: nil request")
	}
	bad, param := "", ""
	switch {
	case req.APIModel != "":
		bad, param = "an API model", "model"
	case req.Size != "" && req.Size != "auto":
		bad, param = "a size (the local model has one native size)", "size"
	case req.Quality != "":
		bad, param = "a quality", "quality"
	case req.OutputFormat != "" && req.OutputFormat != "png":
		bad, param = "an output format other than png", "output_format"
	case req.OutputCompression != nil, req.Background != "", req.Moderation != "":
		bad, param = "output compression, background or moderation", "background"
	case req.Grid < 0:
		return generator.Invalid("grid", "grid %d must be ≥ 1", req.Grid)
	case req.N < 0:
		return generator.Invalid("n", "n %d must be ≥ 1", req.N)
	case req.N > MaxGrid*MaxGrid: // every image holds its own KV cache while sampling
		return generator.Invalid("n", "n %d: at most %d images are sampled together", req.N, MaxGrid*MaxGrid)
	case req.PreviewEvery < 0:
		return generator.Invalid("preview_every", "preview every %d tokens: must be ≥ 0", req.PreviewEvery)
	case req.Previews < 0:
		return generator.Invalid("previews", "%d previews: must be ≥ 0", req.Previews)
	case req.Grid > 1 && req.N > 1:
		return generator.Invalid("n", "n > 1 and grid > 1 together: choose one")
	}
	if bad != "" {
		return generator.Invalid(param, "the local engine does not take %s", bad)
	}
	return nil
}

// enlarge scales an image up by an integer factor, nearest neighbour;
// callers have checked scale against MaxScale.
func enlarge(img *image.RGBA, scale int) image.Image {
	if scale <= 1 {
		return img
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*scale, b.Dy()*scale))
	for y := range out.Rect.Dy() {
		src := img.Pix[(y/scale)*img.Stride:]
		dst := out.Pix[y*out.Stride:]
		for x := range out.Rect.Dx() {
			copy(dst[4*x:4*x+4], src[4*(x/scale):])
		}
	}
	return out
}
