package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/internal/atomicfile"
	"github.com/tessella-ml/tessella/tokenizer"
)

// ModelOptions configures RunModel.
type ModelOptions struct {
	// Model is a local model name: mini-random, mega-random (random weights of
	// the published shapes, made in memory), tiny-random, "" (the default
	// model), mini, mega or a directory.
	Model   string
	Threads int    // 0: GOMAXPROCS
	DType   string // weights precision in memory: "" or f32, f16, bf16, q8
	Format  string // md (default) or json
	Prompt  string // default "a red star above a blue ring"
	Seed    uint64
	// Candidates is the best-of-K setting of the timed image (0: 1, one
	// candidate, the engine's per-image cost; the default model's own
	// default, 6, is what its first command pays).
	Candidates int
	// CPUProfile, when set, names a file that receives a pprof CPU profile
	// of the timed part (encoder and the whole generation; not the load),
	// written atomically once the run has finished. An existing file is
	// refused, before anything runs, unless Force is set; so are a folder
	// (or, with Force, a link to one) and a path whose folder is missing or
	// not writable (with Force, the folder of the file a link leads to).
	CPUProfile string
	Force      bool
}

// ModelResult is one whole generation, timed by stage.
type ModelResult struct {
	Model      string  `json:"model"`
	Engine     string  `json:"engine"` // the loaded generator's name, e.g. local:default
	Threads    int     `json:"threads"`
	Candidates int     `json:"candidates"`
	LoadS      float64 `json:"load_s"`
	EncoderS   float64 `json:"encoder_s"`
	StepMedian float64 `json:"token_s_median"` // seconds per image token (decoder step + sampling)
	DecodeS    float64 `json:"decode_s"`       // encoder + all decoder steps
	RankS      float64 `json:"rank_s"`         // with candidates > 1 and a judge: decoding and scoring them
	VQGANS     float64 `json:"vqgan_s"`
	TotalS     float64 `json:"total_s"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// RunModel loads a model (opts.Model as local.Open takes it, "default"
// for the embedded model; "" is mini-random), times one full image
// (encoder, every decoder step, VQGAN) and writes the figures.
func RunModel(ctx context.Context, opts ModelOptions, w io.Writer) error {
	if opts.Model == "" {
		opts.Model = "mini-random"
	}
	if opts.Prompt == "" {
		opts.Prompt = "a red star above a blue ring"
	}
	if opts.Candidates == 0 {
		opts.Candidates = 1
	}
	if opts.Format != "" && opts.Format != "md" && opts.Format != "json" {
		return fmt.Errorf("bench model: format %q: want md or json", opts.Format)
	}
	if opts.CPUProfile != "" { // a profile that could not be written is refused now, not after the run
		// The write follows a link at the path (with Force) and goes through
		// a temporary file beside the file it replaces: Check probes that.
		if err := atomicfile.Check(opts.CPUProfile, opts.Force); err != nil {
			p := opts.CPUProfile
			switch lst, _ := os.Lstat(p); {
			case errors.Is(err, fs.ErrExist):
				return fmt.Errorf("bench model: cpu profile %s already exists (use --force to overwrite)", p)
			case errors.Is(err, atomicfile.ErrNotRegular) && lst != nil && lst.IsDir():
				return fmt.Errorf("bench model: cpu profile %s is a folder", p)
			case errors.Is(err, atomicfile.ErrNotRegular):
				return fmt.Errorf("bench model: cpu profile %s is a link to a folder", p)
			}
			return fmt.Errorf("bench model: cpu profile: %w", err)
		}
	}
	// Threads bounds the whole process: local.Engine passes it to the
	// attention kernels only, while the matmul default engine and the VQGAN
	// use GOMAXPROCS when unset, so the run sets GOMAXPROCS too.
	if opts.Threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(opts.Threads))
	}
	open := opts.Model
	if open == "default" {
		open = "" // the embedded default model
	}
	t0 := time.Now()
	eng, err := local.Open(local.Options{Model: open, Threads: opts.Threads, DType: opts.DType})
	if err != nil {
		return err
	}
	defer eng.Close()
	res := ModelResult{Model: opts.Model, Engine: eng.Name(), Threads: opts.Threads, Candidates: opts.Candidates,
		LoadS: time.Since(t0).Seconds()}
	if res.Threads == 0 {
		res.Threads = runtime.GOMAXPROCS(0)
	}

	var profile bytes.Buffer // the profile, written to opts.CPUProfile at the end
	if opts.CPUProfile != "" {
		if err := pprof.StartCPUProfile(&profile); err != nil {
			return fmt.Errorf("bench model: cpu profile %s: %w", opts.CPUProfile, err)
		}
		defer pprof.StopCPUProfile() // on an early return; a no-op after the stop below
	}

	// The encoder alone, once, as the generation will run it.
	cfg := eng.Model().Config
	uncond, cond := tokenizer.TextRows(eng.Tokenizer().Tokenize(opts.Prompt), cfg.TextLen)
	t1 := time.Now()
	if _, err := eng.Model().Encoder.Forward([][]int{uncond, cond}); err != nil {
		return err
	}
	res.EncoderS = time.Since(t1).Seconds()

	var stamps []time.Time
	seed := opts.Seed
	// One image, of opts.Candidates candidates (by default one: the
	// engine's per-image cost).
	req := &generator.Request{Prompt: opts.Prompt, Seed: &seed, Threads: opts.Threads, Candidates: opts.Candidates,
		Progress: func(p generator.Progress) {
			if p.Stage == "decode" {
				stamps = append(stamps, time.Now())
			}
		}}
	t2 := time.Now()
	out, err := eng.Generate(ctx, req)
	if err != nil {
		return err
	}
	res.TotalS = time.Since(t2).Seconds()
	if opts.CPUProfile != "" {
		pprof.StopCPUProfile()
		if err := generator.WriteFileAtomic(opts.CPUProfile, profile.Bytes(), opts.Force); err != nil {
			return fmt.Errorf("bench model: cpu profile: %w", err)
		}
	}
	for _, t := range out.Timings {
		switch t.Stage {
		case "decode":
			res.DecodeS = t.Duration.Seconds()
		case "rank":
			res.RankS = t.Duration.Seconds()
		case "vqgan":
			res.VQGANS = t.Duration.Seconds()
		}
	}
	// stamps[0] is before the encoder, stamps[1] after step 0; the median
	// of the later intervals is the steady per-token time.
	var steps []float64
	for i := 2; i < len(stamps); i++ {
		steps = append(steps, stamps[i].Sub(stamps[i-1]).Seconds())
	}
	if len(steps) > 0 {
		slices.Sort(steps)
		res.StepMedian = steps[len(steps)/2]
	}
	res.PeakRSSMiB = peakRSSMiB()
	if opts.Format == "json" {
		return json.NewEncoder(w).Encode(res)
	}
	fmt.Fprintf(w, "| model | threads | candidates | load s | encoder s | s / image token (median) | decode s | rank s | VQGAN s | total s | peak RSS MiB |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| %s | %d | %d | %.2f | %.3f | %.4f | %.2f | %.2f | %.2f | %.2f | %.0f |\n", res.Model, res.Threads,
		res.Candidates, res.LoadS, res.EncoderS, res.StepMedian, res.DecodeS, res.RankS, res.VQGANS, res.TotalS, res.PeakRSSMiB)
	return nil
}

// peakRSSMiB reads the process's peak resident set (VmHWM) on Linux; 0 elsewhere.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}
