package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/weights"
)

const convertUsage = `Usage: tessella convert --dtype f32|f16|bf16|q8 [--force] IN OUT

IN is a weights file (.pt or .safetensors): OUT is the .safetensors file to
write (or an existing directory to write IN's name .safetensors into).
IN is a model folder (either layout --model takes) or mini/mega: every
model file is converted into the folder OUT (encoder, decoder and detoker
.safetensors, flat layout), and vocab.json, merges.txt and config.json are
copied; --model OUT then loads it.

q8 stores 2-D weight matrices with rows of ≥ 32 values as int8 in groups of
32 with one fp16 scale per group; other tensors keep their type (see
--float). See docs/models.md.

Flags:
`

// cmdConvert converts weights files to safetensors in another precision.
func cmdConvert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("convert", stderr, convertUsage)
	dtArg := fs.String("dtype", "", "precision: f32, f16, bf16 or q8 (required)")
	force := fs.Bool("force", false, "overwrite existing output files")
	floatArg := fs.String("float", "", "q8: precision of the tensors left unquantised, f32, f16 or bf16 (default: keep each one's)")
	quiet := fs.Bool("quiet", false, "no per-file lines on stderr")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || *dtArg == "" {
		return usageError("convert: usage: tessella convert --dtype f32|f16|bf16|q8 [--force] IN OUT")
	}
	dt, err := weights.ParseDType(*dtArg)
	if err != nil {
		return usageError("convert: --dtype: %v", err)
	}
	var opts weights.ConvertOptions
	if *floatArg != "" {
		if opts.Float, err = weights.ParseDType(*floatArg); err != nil || opts.Float == weights.Q8 {
			return usageError("convert: --float %q: want f32, f16 or bf16", *floatArg)
		}
		if dt != weights.Q8 {
			return usageError("convert: --float applies to --dtype q8 only (the tensors q8 leaves unquantised)")
		}
	}
	in, out := pos[0], pos[1]
	if strings.TrimSpace(in) == "" || strings.TrimSpace(out) == "" {
		return usageError("convert: IN and OUT must be non-empty paths")
	}
	logf := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, format+"\n", a...)
		}
	}
	st, statErr := os.Stat(in)
	if statErr != nil && (in == "mini" || in == "mega") || statErr == nil && st.IsDir() {
		return convertModelDir(ctx, in, out, dt, opts, *force, stdout, logf)
	}
	if statErr != nil {
		return fmt.Errorf("convert: %w", statErr)
	}
	if ost, err := os.Stat(out); err == nil && ost.IsDir() {
		out = filepath.Join(out, strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))+".safetensors")
	}
	if ist, err := os.Stat(in); err == nil {
		if ost, err := os.Stat(out); err == nil && os.SameFile(ist, ost) {
			return usageError("convert: %s is the input itself; write the converted file elsewhere", out)
		}
	}
	if err := refuseExisting([]string{out}, *force); err != nil {
		return err
	}
	if err := weights.ConvertFile(ctx, in, out, dt, opts); err != nil {
		return err
	}
	logf("%s → %s (%s, %s)", in, out, strings.ToLower(string(dt)), fileSize(out))
	fmt.Fprintln(stdout, out)
	return nil
}

// convertModelDir converts a whole model into the flat folder out.
func convertModelDir(ctx context.Context, in, out string, dt weights.DType, opts weights.ConvertOptions, force bool, stdout io.Writer, logf func(string, ...any)) error {
	files, err := local.Locate(in, local.ModelsDir())
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if same, _ := sameDir(files.Dir, out); same {
		return usageError("convert: OUT %s is the model's own folder; choose another", out)
	}
	type job struct{ src, dst string }
	jobs := []job{
		{files.Encoder, filepath.Join(out, "encoder.safetensors")},
		{files.Decoder, filepath.Join(out, "decoder.safetensors")},
		{files.VQGAN, filepath.Join(out, "detoker.safetensors")},
	}
	copies := []job{{files.Vocab, filepath.Join(out, "vocab.json")}, {files.Merges, filepath.Join(out, "merges.txt")}}
	if files.Config != "" {
		copies = append(copies, job{files.Config, filepath.Join(out, "config.json")})
	}
	var dsts []string
	for _, j := range append(append([]job{}, jobs...), copies...) {
		dsts = append(dsts, j.dst)
	}
	if err := refuseExisting(dsts, force); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	// Everything is written into a scratch folder inside OUT and renamed into
	// place only when every file is whole: a failure (a bad tensor, a full
	// disk, Ctrl-C) leaves OUT as it was.
	stage, err := os.MkdirTemp(out, ".convert-")
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	defer os.RemoveAll(stage)
	staged := func(dst string) string { return filepath.Join(stage, filepath.Base(dst)) }
	for _, j := range jobs {
		if err := weights.ConvertFile(ctx, j.src, staged(j.dst), dt, opts); err != nil {
			return err
		}
		logf("%s → %s (%s, %s)", j.src, j.dst, strings.ToLower(string(dt)), fileSize(staged(j.dst)))
	}
	for _, j := range copies {
		b, err := os.ReadFile(j.src)
		if err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		if err := generator.WriteFileAtomic(staged(j.dst), b, false); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	}
	if err := refuseExisting(dsts, force); err != nil { // anything that appeared meanwhile
		return err
	}
	for _, d := range dsts {
		if err := os.Rename(staged(d), d); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	}
	fmt.Fprintln(stdout, out)
	return nil
}

// refuseExisting fails, naming them, when any of paths exists and force is off.
func refuseExisting(paths []string, force bool) error {
	if force {
		return nil
	}
	var there []string
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			there = append(there, p)
		}
	}
	if len(there) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("convert: %s already exists (use --force to overwrite)", strings.Join(there, ", "))}
	}
	return nil
}

// sameDir reports whether a and b are the same existing directory.
func sameDir(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// fileSize formats a file's size for humans.
func fileSize(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return "?"
	}
	n := float64(st.Size())
	for _, u := range []string{"B", "KB", "MB", "GB"} {
		if n < 1000 || u == "GB" {
			if u == "B" {
				return fmt.Sprintf("%.0f %s", n, u)
			}
			return fmt.Sprintf("%.1f %s", n, u)
		}
		n /= 1000
	}
	return ""
}

// parseInterspersed parses flags that may come before, between and after
// the positional arguments (tessella pull mini --dtype q8), returning the
// positional ones; everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if i := len(args) - len(rest) - 1; i >= 0 && args[i] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
