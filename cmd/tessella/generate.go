package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/generator/openai"
	"github.com/tessella-ml/tessella/internal/atomicfile"
	"github.com/tessella-ml/tessella/trace"
)

var errHelp = flag.ErrHelp

// localOnly and remoteOnly name the generate flags that belong to one backend.
var (
	localOnly  = []string{"model", "seed", "temperature", "top-k", "supercondition", "grid", "candidates", "no-judge", "rng", "tokens-out", "threads", "seamless", "scale", "preview", "ascii", "dtype"}
	remoteOnly = []string{"api-model", "size", "quality", "n", "output-format", "base-url", "timeout", "api-key-file"}
)

func cmdGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate", stderr, "Usage: tessella generate [flags] PROMPT\n")
	var (
		backend  = fs.String("backend", "local", "local (the engine on this machine) or openai (the OpenAI Images API)")
		out      = fs.String("out", "", "output file (default: a name made from the prompt and seed)")
		force    = fs.Bool("force", false, "overwrite an existing output file")
		quiet    = fs.Bool("quiet", false, "no progress bar")
		modelArg = fs.String("model", "", "model: mini, mega, a directory, a .safetensors model file, or empty for the embedded default model")
		seed     = fs.Uint64("seed", 0, "random seed (default: a random seed, printed)")
		temp     = fs.Float64("temperature", 0, "sampling temperature, > 0 (default: the model's; 1 for DALL·E Mini/Mega; tessella inspect shows the built-in model's)")
		topK     = fs.Int("top-k", 0, "keep the k most likely image tokens; 0 keeps all (default: the model's; 256 for DALL·E Mini/Mega)")
		supercon = fs.Float64("supercondition", 0, "supercondition factor f: logits = uncond·(1−f) + cond·f (default: the model's; 16 for DALL·E Mini/Mega)")
		grid     = fs.Int("grid", 1, "G: generate G² images tiled in one PNG")
		cands    = fs.Int("candidates", 0, "sample K images for each one written and keep the one the model's judge scores highest against the prompt (without a judge: the one whose least likely tokens the model finds least unlikely); up to K× the sampling time (default: the model's; 1 for DALL·E Mini/Mega)")
		noJudge  = fs.Bool("no-judge", false, "rank candidates by the model's own token probabilities even when the model file has a judge")
		rng      = fs.String("rng", "go", "go (math/rand/v2) or torch (PyTorch 1.13 CPU sampling, bit for bit)")
		tokOut   = fs.String("tokens-out", "", "also write the sampled image tokens as JSON to this file")
		threads  = fs.Int("threads", 0, "threads (0: all cores)")
		seamless = fs.Bool("seamless", false, "decode the grid's token maps as one seamless image")
		scale    = fs.Int("scale", 0, "enlarge the image by this factor, nearest neighbour (0: the model's default)")
		apiModel = fs.String("api-model", "", "openai: image model (default "+openai.DefaultModel+")")
		size     = fs.String("size", "", "openai: WxH or auto")
		quality  = fs.String("quality", "", "openai: image quality (low, medium, high, auto)")
		n        = fs.Int("n", 1, "openai: number of images")
		outFmt   = fs.String("output-format", "", "openai: png, jpeg or webp")
		baseURL  = fs.String("base-url", "", "openai: API base URL (default $OPENAI_BASE_URL or the public API)")
		timeout  = fs.Duration("timeout", 0, "openai: total time limit, e.g. 2m (0: 5m; negative: none)")
		keyFile  = fs.String("api-key-file", "", "openai: read the API key from this file instead of $OPENAI_API_KEY")
		dtype    = fs.String("dtype", "", "weights precision in memory: f32, f16, bf16 or q8 (default: as loaded, f32)")
		preview  = fs.Int("preview", 0, "write an intermediate image every K tokens beside the output")
		ascii    = fs.Bool("ascii", false, "show the image forming in the terminal (ANSI colours)")
	)
	fs.StringVar(out, "o", "", "shorthand for --out")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("generate: want exactly one PROMPT (quote it), got %d arguments", len(pos))
	}
	prompt := pos[0]
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var gen generator.Generator
	req := &generator.Request{Prompt: prompt}
	switch *backend {
	case "local":
		if err := refuseFlags(set, remoteOnly, "the local backend"); err != nil {
			return err
		}
		if err := checkSamplingFlags(set, *temp, *supercon, *threads); err != nil {
			return err
		}
		switch {
		case *topK < 0:
			return usageError("--top-k must be ≥ 0, got %d", *topK)
		case *grid < 1:
			return usageError("--grid must be ≥ 1, got %d", *grid)
		case *grid > local.MaxGrid:
			return usageError("--grid must be at most %d (%d×%d images), got %d", local.MaxGrid, local.MaxGrid, local.MaxGrid, *grid)
		case set["candidates"] && (*cands < 1 || *cands > local.MaxCandidates):
			return usageError("--candidates must be between 1 and %d, got %d", local.MaxCandidates, *cands)
		case *rng != "go" && *rng != "torch":
			return usageError("--rng must be go or torch, got %q", *rng)
		case *scale < 0 || *scale > local.MaxScale:
			return usageError("--scale must be between 1 and %d (0: the model's default), got %d", local.MaxScale, *scale)
		case *preview < 0:
			return usageError("--preview must be ≥ 0, got %d", *preview)
		}
		eng, err := openEngine(local.Options{Model: *modelArg, Threads: *threads, DType: *dtype, NoJudge: *noJudge})
		if err != nil {
			return err
		}
		defer eng.Close()
		if eng.Untrained() {
			fmt.Fprintln(stderr, "tessella: note: the built-in model is not trained yet (random weights): the image shows noise; use --model mini|mega|DIR for real images")
		}
		gen = eng
		req.Temperature, req.TopK, req.Supercondition, req.Candidates = samplingOverrides(set, temp, topK, supercon, *cands)
		req.Grid, req.RNG, req.Seamless, req.Threads, req.Scale = *grid, *rng, *seamless, *threads, *scale
		if set["seed"] {
			req.Seed = seed
		} else if *preview > 0 {
			s := local.RandomSeed() // the previews' names need the seed before generation
			req.Seed = &s
		}
		req.PreviewEvery = *preview
		if *ascii && *preview == 0 {
			req.PreviewEvery = 16
		}
	case "openai":
		if err := refuseFlags(set, localOnly, "--backend openai"); err != nil {
			return err
		}
		if *n < 1 || *n > 10 {
			return usageError("--n must be between 1 and 10, got %d", *n)
		}
		b, err := openai.New(openai.Options{KeyFile: *keyFile, BaseURL: *baseURL, Model: *apiModel, Timeout: *timeout})
		if err != nil {
			return &exitError{code: openai.ExitCode(err), err: err}
		}
		gen = b
		req.N, req.APIModel, req.Size, req.Quality, req.OutputFormat = *n, *apiModel, *size, *quality, *outFmt
	default:
		return usageError("--backend must be local or openai, got %q", *backend)
	}

	// Refuse before the work, not after it: an existing output (without
	// --force) or a missing folder.
	if err := checkOutput(*out, "image.png", *force); err != nil {
		return err
	}
	if err := checkOutput(*tokOut, "tokens.json", *force); err != nil {
		return err
	}
	if *out != "" && *tokOut != "" && atomicfile.SameTarget(*out, *tokOut, *force) {
		return usageError("--tokens-out and -o name the same file %s; give the tokens another name", *tokOut)
	}
	bar := newProgress(stderr, *quiet || *ascii)
	var previewErr error
	view := &asciiView{w: stderr}
	req.Progress = func(p generator.Progress) {
		bar.update(p)
		if p.Preview == nil {
			return
		}
		if *ascii {
			view.show(p)
		}
		if *preview > 0 && previewErr == nil {
			previewErr = savePreview(p, previewStem(*out, prompt, req.Seed), *force)
		}
	}
	res, err := gen.Generate(ctx, req)
	bar.finish()
	if err != nil {
		if code := openai.ExitCode(err); code != 0 {
			return &exitError{code: code, err: err}
		}
		return err
	}
	if previewErr != nil {
		return fmt.Errorf("writing a preview: %w", previewErr)
	}
	paths, err := generator.Save(res, generator.SaveOptions{Path: *out, Force: *force})
	if err != nil {
		return err
	}
	if *tokOut != "" {
		if err := writeTokens(*tokOut, res.Tokens, *force); err != nil {
			return err
		}
	}
	fmt.Fprintln(stderr, summary(res, paths))
	return nil
}

// samplingOverrides returns --temperature, --top-k, --supercondition and
// --candidates where the command line sets them, and nil or 0 (the model's
// default) where it does not: each model has its own defaults.
func samplingOverrides(set map[string]bool, temp *float64, topK *int, supercon *float64, cands int) (t *float64, k *int, f *float64, c int) {
	if set["temperature"] {
		t = temp
	}
	if set["top-k"] {
		k = topK
	}
	if set["supercondition"] {
		f = supercon
	}
	if set["candidates"] {
		c = cands
	}
	return t, k, f, c
}

// refuseFlags returns a usage error if any of names was set on the command line.
func refuseFlags(set map[string]bool, names []string, who string) error {
	var bad []string
	for _, n := range names {
		if set[n] {
			bad = append(bad, "--"+n)
		}
	}
	if len(bad) > 0 {
		return usageError("%s does not take %s", who, strings.Join(bad, ", "))
	}
	return nil
}

// checkOutput reports a problem with an output path before any work is
// done: its folder is missing or cannot be written, it is a folder or a
// link to one (example names a file to suggest in it), or it exists, even
// as a dangling link, and force is off; with force, whatever else would
// stop the write from committing (atomicfile.Check: a link is followed,
// and the folder of the file it leads to is the one probed). "" (a
// generated name) passes.
func checkOutput(path, example string, force bool) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%s: the folder %s does not exist", path, dir)
	} else if !st.IsDir() {
		return fmt.Errorf("%s: %s is a file, not a folder", path, dir)
	}
	st, err := os.Lstat(path) // a dangling symbolic link exists too
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("%s is a folder; give a file name, e.g. %s", path, filepath.Join(path, example))
	case err == nil && !force:
		return fmt.Errorf("%s already exists (use --force to overwrite it)", path)
	}
	// The write goes through a temporary file beside the file it replaces,
	// the target of a link at path with force.
	if err := atomicfile.Check(path, force); err != nil {
		if errors.Is(err, atomicfile.ErrNotRegular) {
			if st, serr := os.Stat(path); serr == nil && st.IsDir() {
				return fmt.Errorf("%s is a link to a folder; give a file name, e.g. %s", path, filepath.Join(path, example))
			}
		}
		return fmt.Errorf("cannot write %w", err)
	}
	return nil
}

// previewStem is the path prefix of the intermediate images: the output's
// name without its extension, or the name the output will get.
func previewStem(out, prompt string, seed *uint64) string {
	if out != "" {
		return strings.TrimSuffix(out, filepath.Ext(out))
	}
	return fmt.Sprintf("%s-s%d", generator.Slug(prompt), *seed)
}

// savePreview writes one intermediate image as STEM.step-NNN.png.
func savePreview(p generator.Progress, stem string, force bool) error {
	res := &generator.Result{Images: []generator.Image{{Image: p.Preview}},
		Metadata: map[string]string{"step": strconv.Itoa(p.Done)}}
	_, err := generator.Save(res, generator.SaveOptions{Path: fmt.Sprintf("%s.step-%03d.png", stem, p.Done), Force: force})
	return err
}

// asciiView redraws a terminal preview in place: each frame moves the
// cursor back to the top of the previous one.
type asciiView struct {
	w     io.Writer
	lines int // lines the last frame drew
}

func (v *asciiView) show(p generator.Progress) {
	if v.lines > 0 {
		fmt.Fprintf(v.w, "\x1b[%dA", v.lines)
	}
	art := trace.ASCII(p.Preview, 32, true)
	fmt.Fprintf(v.w, "%s%d/%d tokens\n", art, p.Done, p.Total)
	v.lines = strings.Count(art, "\n") + 1
}

// tokensFile is the JSON form of image tokens: one row per image, in the
// reference's row order.
type tokensFile struct {
	Tokens [][]int `json:"tokens"`
}

func writeTokens(path string, tokens [][]int, force bool) error {
	if len(tokens) == 0 {
		return fmt.Errorf("--tokens-out: this backend returned no image tokens")
	}
	b, err := json.Marshal(tokensFile{Tokens: tokens})
	if err != nil {
		return err
	}
	return generator.WriteFileAtomic(path, append(b, '\n'), force)
}

// summary is the one line printed after a generation.
func summary(res *generator.Result, paths []string) string {
	var b strings.Builder
	if res.Metadata["backend"] != "openai" {
		fmt.Fprintf(&b, "seed %d", res.Seed)
	} else {
		fmt.Fprintf(&b, "model %s", res.Metadata["model"])
	}
	var total time.Duration
	for _, t := range res.Timings {
		fmt.Fprintf(&b, ", %s %.2fs", t.Stage, t.Duration.Seconds())
		total += t.Duration
		if t.Stage == "decode" && len(res.Tokens) > 0 && t.Duration > 0 {
			steps := len(res.Tokens[0])
			fmt.Fprintf(&b, " (%.1f image tokens/s)", float64(steps)/t.Duration.Seconds())
		}
	}
	if u := res.Usage; u != nil {
		fmt.Fprintf(&b, ", tokens in %d out %d", u.InputTokens, u.OutputTokens)
	}
	fmt.Fprintf(&b, ", total %.2fs → %s", total.Seconds(), strings.Join(paths, ", "))
	return b.String()
}

// progress draws a bar on stderr per stage.
type progress struct {
	w     io.Writer
	quiet bool
	stage string
	bar   *progressbar.ProgressBar
}

func newProgress(w io.Writer, quiet bool) *progress { return &progress{w: w, quiet: quiet} }

func (p *progress) update(e generator.Progress) {
	if p.quiet || e.Total <= 0 {
		return
	}
	if e.Stage != p.stage || p.bar == nil {
		p.finish()
		p.stage = e.Stage
		p.bar = progressbar.NewOptions(e.Total, progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(e.Stage), progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	_ = p.bar.Set(e.Done)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
