package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tessella-ml/tessella/eval/shapes64"
	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/generator/local"
)

const evalUsage = `Usage: tessella eval shapes [flags]

Draws N scenes of the shapes64 set (seeded), generates each full caption with
a fixed seed (seed+i, or sample-seed+i) at scale 1, scores the 64×64 images
and prints the accuracy per attribute and scene type.

       tessella eval compare A.json B.json

Pairs two reports of the same prompts (eval shapes --format json, the same
--split, --seed and --n): how many prompts both, only A, only B or neither got
fully right, per scene type, with McNemar's exact p-value, and which prompts
differ. Two models on one draw show what a change fixed and broke; one model
drawn twice (--sample-seed) shows how much the draw alone moves.
`

// cmdEval runs `tessella eval shapes` and `tessella eval compare`.
func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(stderr, evalUsage)
		if len(args) == 0 {
			return usageError("eval: name a benchmark: tessella eval shapes")
		}
		return errHelp
	}
	if args[0] == "compare" {
		return cmdEvalCompare(args[1:], stdout, stderr)
	}
	if args[0] != "shapes" {
		return usageError("eval: unknown benchmark %q (want shapes, or compare)", args[0])
	}
	fs := newFlagSet("eval shapes", stderr, evalUsage+"\nFlags:\n")
	var (
		split    = fs.String("split", "train", "train (seen compositions) or heldout (held-out kind/colour pairs)")
		n        = fs.Int("n", 100, "number of prompts")
		seed     = fs.Uint64("seed", 1, "seed of the scenes; prompt i is generated with seed+i")
		sseed    = fs.Uint64("sample-seed", 0, "generate prompt i with sample-seed+i instead (the same scenes drawn with other random numbers; default: --seed)")
		modelArg = fs.String("model", "", "model: a directory, a .safetensors model file, tiny-random, …, or empty for the embedded default model")
		sheet    = fs.String("sheet", "", "also write a contact sheet PNG of prompts and images to this file")
		force    = fs.Bool("force", false, "overwrite an existing contact sheet")
		format   = fs.String("format", "md", "output: md (a Markdown table) or json (the table and every prompt's verdict)")
		threads  = fs.Int("threads", 0, "threads (0: all cores)")
		dtype    = fs.String("dtype", "", "weights precision in memory: f32, f16, bf16 or q8 (default: as loaded, f32)")
		quiet    = fs.Bool("quiet", false, "no progress on stderr")
		temp     = fs.Float64("temperature", 0, "sampling temperature, > 0 (default: the model's)")
		topK     = fs.Int("top-k", 0, "keep the k most likely image tokens; 0 keeps all (default: the model's)")
		supercon = fs.Float64("supercondition", 0, "supercondition factor (default: the model's)")
		cands    = fs.Int("candidates", 0, "sample K images per prompt and score the one the engine keeps (see generate --candidates; default: the model's)")
		noJudge  = fs.Bool("no-judge", false, "rank candidates by the model's own token probabilities even when the model file has a judge")
	)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case fs.NArg() != 0:
		return usageError("eval shapes: unexpected arguments %q", fs.Args())
	case *split != "train" && *split != "heldout":
		return usageError("--split must be train or heldout, got %q", *split)
	case *n < 1 || *n > 100000:
		return usageError("--n must be between 1 and 100000, got %d", *n)
	case *format != "md" && *format != "json":
		return usageError("--format must be md or json, got %q", *format)
	case *topK < 0:
		return usageError("--top-k must be ≥ 0, got %d", *topK)
	case set["candidates"] && (*cands < 1 || *cands > local.MaxCandidates):
		return usageError("--candidates must be between 1 and %d, got %d", local.MaxCandidates, *cands)
	}
	if err := checkSamplingFlags(set, *temp, *supercon, *threads); err != nil {
		return err
	}
	if *sheet != "" { // refused now, not after the evaluation
		if st, err := os.Stat(*sheet); err == nil && st.IsDir() {
			return fmt.Errorf("--sheet %s is a folder; give a file name, e.g. %s", *sheet, filepath.Join(*sheet, "sheet.png"))
		}
		p := *sheet
		switch strings.ToLower(filepath.Ext(p)) {
		case "":
			p += ".png" // as generator.Save names it
		case ".png":
		default:
			return usageError("--sheet %s: the contact sheet is a PNG; give a .png name", *sheet)
		}
		if err := checkOutput(p, "sheet.png", *force); err != nil {
			return err
		}
	}
	opts := shapes64.EvalOptions{Split: *split, N: *n, Seed: *seed, KeepImages: *sheet != ""}
	opts.Temperature, opts.TopK, opts.Supercondition, opts.Candidates = samplingOverrides(set, temp, topK, supercon, *cands)
	if set["sample-seed"] {
		opts.SampleSeed = sseed
	}
	eng, err := openEngine(local.Options{Model: *modelArg, Threads: *threads, DType: *dtype, NoJudge: *noJudge})
	if err != nil {
		return err
	}
	defer eng.Close()
	if eng.Untrained() {
		fmt.Fprintf(stderr, "note: no trained default model is embedded; %s has random weights, its scores mean nothing\n", eng.Name())
	}
	if !*quiet {
		opts.Progress = func(done, total int) {
			fmt.Fprintf(stderr, "\reval shapes: %d/%d", done, total)
			if done == total {
				fmt.Fprintln(stderr)
			}
		}
	}
	r, err := shapes64.Eval(ctx, eng, opts)
	if err != nil {
		return err
	}
	if *format == "json" {
		err = r.WriteJSON(stdout)
	} else {
		err = r.WriteMarkdown(stdout)
	}
	if err != nil {
		return err
	}
	if *sheet != "" {
		img, err := r.ContactSheet()
		if err != nil {
			return err
		}
		all := r.Scores["all scenes"]["all"]
		res := &generator.Result{Images: []generator.Image{{Image: img}}, Metadata: map[string]string{
			"model": r.Model, "benchmark": "shapes64", "split": r.Split, "n": strconv.Itoa(r.N),
			"seed": strconv.FormatUint(r.Seed, 10), "sample-seed": strconv.FormatUint(r.SampleSeed, 10),
			"all": fmt.Sprintf("%d/%d", all.Right, all.Total), "software": "tessella " + version}}
		paths, err := generator.Save(res, generator.SaveOptions{Path: *sheet, Force: *force})
		if err != nil {
			return err
		}
		fmt.Fprintln(stderr, "contact sheet →", paths[0])
	}
	return nil
}

// cmdEvalCompare runs `tessella eval compare A.json B.json`.
func cmdEvalCompare(args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stderr, evalUsage)
		return errHelp
	}
	if len(args) != 2 {
		return usageError("eval compare: want two JSON reports (tessella eval shapes --format json), got %d arguments", len(args))
	}
	var reports [2]*shapes64.Report
	for i, path := range args {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var r shapes64.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: not a JSON report of eval shapes: %v", path, err)
		}
		reports[i] = &r
	}
	c, err := shapes64.Compare(reports[0], reports[1])
	if err != nil {
		return fmt.Errorf("%s and %s: %w", args[0], args[1], err)
	}
	return c.WriteMarkdown(stdout)
}
