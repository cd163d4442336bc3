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
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelArg := fs.String("model", "", "model: mini, mega, a directory, or empty for the default model")
	out := fs.String("out", "", "directory for the report (index.html and its images)")
	seed := fs.Uint64("seed", 1, "random seed")
	rng := fs.String("rng", "go", "go or torch")
	temp := fs.Float64("temperature", 0, "sampling temperature (0: the model's default)")
	topK := fs.Int("top-k", -1, "top-k (-1: the model's default; 0 keeps all)")
	supercon := fs.Float64("supercondition", -1, "supercondition factor (-1: the model's default)")
	every := fs.Int("every", 0, "re-decode the progressive image every K tokens (0: 1/16 of the tokens)")
	threads := fs.Int("threads", 0, "threads (0: all cores)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *out == "" {
		return usageError("trace: usage: tessella trace [flags] --out DIR PROMPT")
	}
	eng, err := local.Open(local.Options{Model: *modelArg, Threads: *threads})
	if err != nil {
		return err
	}
	defer eng.Close()
	o := trace.DefaultOptions(eng.Model().Config)
	d := eng.Defaults()
	o.Seed, o.RNG, o.OutDir = *seed, *rng, *out
	o.Temperature, o.TopK, o.Supercondition = float32(d.Temperature), d.TopK, float32(d.Supercondition)
	if *temp > 0 {
		o.Temperature = float32(*temp)
	}
	if *topK >= 0 {
		o.TopK = *topK
	}
	if *supercon >= 0 {
		o.Supercondition = float32(*supercon)
	}
	if *every > 0 {
		o.PreviewEvery = *every
	}
	if err := trace.Run(ctx, eng, fs.Arg(0), o); err != nil {
		return err
	}
	fmt.Fprintln(stdout, filepath.Join(*out, "index.html"))
	return nil
}
