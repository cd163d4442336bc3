package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/trace"
)

func cmdTrace(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("trace", stderr, "")
	modelArg := modelFlag(fs)
	out := fs.String("out", "", "directory for the report (index.html and its images)")
	seed := fs.Uint64("seed", 1, "random seed")
	rng := fs.String("rng", "go", "go or torch")
	temp := fs.Float64("temperature", 0, "sampling temperature (0: the model's default)")
	topK := fs.Int("top-k", -1, "top-k (-1: the model's default; 0 keeps all)")
	supercon := fs.Float64("supercondition", -1, "supercondition factor (-1: the model's default)")
	every := fs.Int("every", 0, "re-decode the progressive image every K tokens (0: 1/16 of the tokens)")
	threads := fs.Int("threads", 0, "threads (0: all cores)")
	force := fs.Bool("force", false, "write into DIR even if it already holds a report")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return usageError("trace: usage: tessella trace [flags] --out DIR PROMPT")
	}
	set := map[string]bool{} // the flags given a value of their own, not their "model's default" sentinel
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	set["temperature"] = set["temperature"] && *temp != 0
	set["supercondition"] = set["supercondition"] && *supercon != -1
	if err := checkSamplingFlags(set, *temp, *supercon, *threads); err != nil {
		return err
	}
	switch {
	case *topK < -1:
		return usageError("--top-k must be ≥ 0 (or -1 for the model's default), got %d", *topK)
	case *every < 0:
		return usageError("--every must be ≥ 0, got %d", *every)
	case *rng != "go" && *rng != "torch":
		return usageError("--rng must be go or torch, got %q", *rng)
	}
	// Checked before the model is loaded; trace.Run checks again.
	if err := trace.CheckOutDir(*out, *force); err != nil {
		return err
	}
	eng, err := local.Open(local.Options{Model: *modelArg, Threads: *threads})
	if err != nil {
		return err
	}
	defer eng.Close()
	o := trace.DefaultOptions(eng.Model().Config)
	d := eng.Defaults()
	o.Seed, o.RNG, o.OutDir, o.Force = *seed, *rng, *out, *force
	o.Temperature, o.TopK, o.Supercondition = float32(d.Temperature), d.TopK, float32(d.Supercondition)
	if set["temperature"] {
		o.Temperature = float32(*temp)
	}
	if *topK >= 0 {
		o.TopK = *topK
	}
	if set["supercondition"] {
		o.Supercondition = float32(*supercon)
	}
	if *every > 0 {
		o.PreviewEvery = *every
	}
	if err := trace.Run(ctx, eng, pos[0], o); err != nil {
		return err
	}
	fmt.Fprintln(stdout, filepath.Join(*out, "index.html"))
	return nil
}
