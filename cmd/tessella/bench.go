package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tessella-ml/tessella/benchmarks"
	"github.com/tessella-ml/tessella/generator/local"
)

const benchUsage = `Usage:
  tessella bench attention [--kernels LIST] [--shapes LIST] [--threads 1,2] [--format md|csv|json] [--plot DIR [--force]] [--peer FILE]
  tessella bench gemm [--threads 1,2] [--format md|csv|json]
  tessella bench scaling [--threads 2] [--rounds 10] [--format md|json]
  tessella bench model [--model mini-random|mega-random|tiny-random|default|DIR] [--candidates K] [--threads N]`

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("bench: which suite?\n%s", benchUsage)
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintln(stderr, benchUsage)
		return errHelp
	}
	switch args[0] {
	case "attention":
		return benchAttention(ctx, args[1:], stdout, stderr)
	case "gemm":
		return benchGEMM(ctx, args[1:], stdout, stderr)
	case "model":
		return benchModel(ctx, args[1:], stdout, stderr)
	case "scaling":
		return benchScaling(ctx, args[1:], stdout, stderr)
	}
	return usageError("bench: unknown suite %q\n%s", args[0], benchUsage)
}

// splitList splits a comma-separated flag value; "" gives nil.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseThreads reads a comma-separated list of thread counts, each in
// [1, local.MaxThreads]; an empty list or an empty item is an error.
func parseThreads(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > local.MaxThreads {
			return nil, usageError("--threads: %q is not a thread count between 1 and %d", f, local.MaxThreads)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseSuiteFlags parses a suite's flags (parseFlags) and refuses words
// left after them: flag parsing stops at the first one, so every flag after
// it would be silently ignored.
func parseSuiteFlags(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("%s takes flags only; unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}

func benchAttention(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench attention", stderr, "")
	kernels := fs.String("kernels", "", "comma-separated kernels (default: naive,online,flash,decode)")
	shapes := fs.String("shapes", "", "comma-separated shapes, or all (default: a short list of DALL·E shapes and two sweeps)")
	threads := fs.String("threads", "1,2", "comma-separated thread counts")
	format := fs.String("format", "md", "md, csv or json")
	plot := fs.String("plot", "", "write PNG plots into this directory")
	force := fs.Bool("force", false, "overwrite existing plot files in --plot DIR")
	peer := fs.String("peer", "", "CSV from benchmarks/attention_peer.py to compare with")
	minTime := fs.Duration("min-time", 300*time.Millisecond, "least timing per kernel × shape × threads")
	if err := parseSuiteFlags(fs, args); err != nil {
		return err
	}
	th, err := parseThreads(*threads)
	if err != nil {
		return err
	}
	if *minTime <= 0 {
		return usageError("--min-time must be positive, got %v", *minTime)
	}
	shapeList := splitList(*shapes)
	if *shapes == "all" {
		shapeList = benchmarks.AttentionShapeNames()
	}
	return benchmarks.RunAttention(ctx, benchmarks.AttentionOptions{Kernels: splitList(*kernels),
		Shapes: shapeList, Threads: th, Format: *format, PlotDir: *plot, Force: *force, Peer: *peer, MinTime: *minTime}, stdout)
}

func benchGEMM(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench gemm", stderr, "")
	threads := fs.String("threads", "1,2", "comma-separated thread counts")
	format := fs.String("format", "md", "md, csv or json")
	backends := fs.String("backends", "", "comma-separated: gonum, avx2, avx512, openblas (default: all available)")
	layouts := fs.String("layouts", "", "comma-separated weight layouts: nk (nn.Linear) and/or kn (default both)")
	samples := fs.Int("samples", 3, "timed samples per cell (the median is reported)")
	verbose := fs.Bool("v", false, "print one line per measured cell on stderr")
	if err := parseSuiteFlags(fs, args); err != nil {
		return err
	}
	th, err := parseThreads(*threads)
	if err != nil {
		return err
	}
	if *samples < 1 {
		return usageError("--samples must be ≥ 1, got %d", *samples)
	}
	opts := benchmarks.GEMMOptions{Threads: th, Format: *format, Backends: splitList(*backends),
		Layouts: splitList(*layouts), Samples: *samples}
	if *verbose {
		opts.Progress = func(s string) { fmt.Fprintln(stderr, s) }
	}
	return benchmarks.RunGEMM(ctx, opts, stdout)
}

func benchScaling(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench scaling", stderr, "")
	threads := fs.Int("threads", 2, "threads compared with one thread")
	rounds := fs.Int("rounds", 10, "interleaved rounds (the median ratio is reported)")
	format := fs.String("format", "md", "md or json")
	if err := parseSuiteFlags(fs, args); err != nil {
		return err
	}
	if *threads < 2 || *threads > local.MaxThreads || *rounds < 1 {
		return usageError("bench scaling: --threads must be between 2 and %d and --rounds ≥ 1", local.MaxThreads)
	}
	return benchmarks.RunScaling(ctx, benchmarks.ScalingOptions{Threads: *threads, Rounds: *rounds, Format: *format}, stdout)
}

func benchModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench model", stderr, "")
	modelArg := fs.String("model", "mini-random", "mini-random, mega-random, tiny-random, default, mini, mega, a directory or a .safetensors model file")
	threads := fs.Int("threads", 0, "threads (0: all cores)")
	format := fs.String("format", "md", "md or json")
	seed := fs.Uint64("seed", 1, "sampling seed")
	dtype := fs.String("dtype", "", "weights precision in memory: f32, f16, bf16 or q8")
	cpuProfile := fs.String("cpuprofile", "", "write a pprof CPU profile of the timed generation to `FILE`")
	force := fs.Bool("force", false, "overwrite an existing --cpuprofile file")
	cands := fs.Int("candidates", 1, "time one image of K candidates (the default model's own default is 6)")
	if err := parseSuiteFlags(fs, args); err != nil {
		return err
	}
	if *cands < 1 || *cands > local.MaxCandidates {
		return usageError("--candidates must be between 1 and %d, got %d", local.MaxCandidates, *cands)
	}
	if *format != "md" && *format != "json" {
		return usageError("--format must be md or json, got %q", *format)
	}
	if err := checkThreads(*threads); err != nil {
		return err
	}
	if err := checkDType(*dtype); err != nil {
		return err
	}
	return benchmarks.RunModel(ctx, benchmarks.ModelOptions{Model: *modelArg, Threads: *threads, Format: *format, Seed: *seed,
		DType: *dtype, CPUProfile: *cpuProfile, Force: *force, Candidates: *cands}, stdout)
}
