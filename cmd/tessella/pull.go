package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/weights"
)

const pullUsage = `Usage: tessella pull mini|mega [--dtype f32|f16|bf16|q8] [--models DIR] [--base-url URL]

Downloads min-dalle's published weights (Hugging Face kuprel/min-dalle, or
the mirror in --base-url or $TESSELLA_MIRROR) into the models folder
(--models, else $TESSELLA_MODELS, else the user cache folder), in
min-dalle's layout, so that --model mini|mega finds them. Interrupted
downloads resume; sizes and, when the host gives them, sha256 hashes are
checked. With --dtype the .pt files are converted to .safetensors in that
precision and then deleted (unless --keep-pt). See docs/models.md.

Flags:
`

// cmdPull downloads a published model.
func cmdPull(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pull", stderr, pullUsage)
	dtArg := fs.String("dtype", "", "convert the weights to f32, f16, bf16 or q8 safetensors (default: keep the published .pt files)")
	models := fs.String("models", "", "models folder (default $TESSELLA_MODELS or "+local.ModelsDir()+")")
	baseURL := fs.String("base-url", "", "where the files are (default $TESSELLA_MIRROR or "+local.DefaultBaseURL+")")
	keepPT := fs.Bool("keep-pt", false, "with --dtype: keep the downloaded .pt files")
	retries := fs.Int("retries", 3, "times an interrupted transfer is resumed before giving up")
	quiet := fs.Bool("quiet", false, "no progress bars or per-file lines")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (pos[0] != "mini" && pos[0] != "mega") {
		return usageError("pull: usage: tessella pull mini|mega [--dtype f32|f16|bf16|q8] [--models DIR] [--base-url URL]")
	}
	opts := local.PullOptions{ModelsDir: *models, BaseURL: *baseURL, KeepPT: *keepPT, Retries: *retries}
	switch {
	case *retries < 0:
		return usageError("--retries must be ≥ 0 (0: do not resume), got %d", *retries)
	case *retries == 0:
		opts.Retries = -1 // PullOptions: negative is none, 0 its default
	}
	if *dtArg != "" {
		if opts.DType, err = weights.ParseDType(*dtArg); err != nil {
			return usageError("pull: --dtype: %v", err)
		}
	}
	if !*quiet {
		opts.Progress, opts.Log = stderr, stderr
	}
	files, err := local.Pull(ctx, pos[0], opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, files.Dir)
	return nil
}
