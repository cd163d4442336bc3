package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/internal/atomicfile"
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
	staged, n, err := stageConverted(ctx, in, out, dt, opts, *force)
	if err != nil {
		return err
	}
	defer staged.Discard()
	if err := staged.Commit(); err != nil {
		return outputError(out, err, *force)
	}
	logf("%s → %s (%s, %s)", in, out, strings.ToLower(string(dt)), humanSize(n))
	fmt.Fprintln(stdout, out)
	return nil
}

// convertModelDir converts a whole model into the flat folder out.
//
// It writes in two phases, like generator.Save: every output is first
// staged (converted or copied into a synced temporary file beside the file
// it becomes, atomicfile.Stage), then all are committed. A failure while
// staging (a bad tensor, a full disk, Ctrl-C, an output that is a folder)
// discards the staged files and removes the folders this call made, so
// OUT is left as it was. Without force nothing is ever overwritten; with
// force a symbolic link in OUT is followed and kept (the file it leads to
// is replaced, keeping its permission bits), as by every write of
// tessella. Should a commit fail midway, the outputs this call created
// are removed again; files it already replaced (force) stay replaced.
func convertModelDir(ctx context.Context, in, out string, dt weights.DType, opts weights.ConvertOptions, force bool, stdout io.Writer, logf func(string, ...any)) (err error) {
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
	all := append(append([]job{}, jobs...), copies...)
	var dsts []string
	for _, j := range all {
		dsts = append(dsts, j.dst)
	}
	if err := refuseExisting(dsts, force); err != nil {
		return err
	}
	// With force an output that is a link to one of the inputs would
	// replace the model's own file, and two outputs whose links lead to one
	// file would leave only the second.
	for _, d := range all {
		for _, s := range all {
			if atomicfile.SameTarget(s.src, d.dst, true) {
				return usageError("convert: %s is the input %s itself; write the converted files elsewhere", d.dst, s.src)
			}
		}
	}
	if i, j, found := atomicfile.Collision(dsts, force); found {
		return usageError("convert: %s and %s lead to the same file; each output needs its own", dsts[i], dsts[j])
	}
	made, err := mkdirAll(out)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	var staged []*atomicfile.Staged
	var created []string // outputs committed where nothing was
	defer func() {
		if err == nil {
			return
		}
		for _, s := range staged {
			s.Discard()
		}
		for _, p := range created {
			os.Remove(p)
		}
		for i := len(made) - 1; i >= 0; i-- {
			os.Remove(made[i]) // only if empty
		}
	}()
	for _, j := range jobs {
		s, n, err := stageConverted(ctx, j.src, j.dst, dt, opts, force)
		if err != nil {
			return err
		}
		staged = append(staged, s)
		logf("%s → %s (%s, %s)", j.src, j.dst, strings.ToLower(string(dt)), humanSize(n))
	}
	for _, j := range copies {
		s, err := stageCopy(j.src, j.dst, force)
		if err != nil {
			return err
		}
		staged = append(staged, s)
	}
	for i, s := range staged {
		// What the commit creates, where nothing was, is removed again
		// should a later commit fail: the target, which with force may be
		// the file a dangling link in OUT leads to.
		_, lerr := os.Lstat(s.Target())
		if err := s.Commit(); err != nil {
			return outputError(dsts[i], err, force)
		}
		if errors.Is(lerr, fs.ErrNotExist) {
			created = append(created, s.Target())
		}
	}
	fmt.Fprintln(stdout, out)
	return nil
}

// stageConverted stages dst (atomicfile.Stage with replace = force) with
// in converted to dt, returning its size. An error of the conversion is
// weights.ConvertTo's ("weights: IN: …"), one of dst outputError's.
func stageConverted(ctx context.Context, in, dst string, dt weights.DType, opts weights.ConvertOptions, force bool) (*atomicfile.Staged, int64, error) {
	var n int64
	s, err := stage(dst, force, func(w io.Writer) error {
		cw := &countingWriter{w: w}
		err := weights.ConvertTo(ctx, in, cw, dt, opts)
		n = cw.n
		if cw.err != nil { // the output failed (a full disk), not the input
			return fmt.Errorf("convert: %s: %w", dst, cw.err)
		}
		return err
	})
	return s, n, err
}

// stageCopy stages dst with a copy of the file src.
func stageCopy(src, dst string, force bool) (*atomicfile.Staged, error) {
	return stage(dst, force, func(w io.Writer) error {
		f, err := os.Open(src)
		if err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		defer f.Close()
		cw := &countingWriter{w: w}
		if _, err := io.Copy(cw, f); err != nil {
			if cw.err != nil { // the output failed, not the input
				return fmt.Errorf("convert: %s: %w", dst, cw.err)
			}
			return fmt.Errorf("convert: %s: %w", src, err)
		}
		return nil
	})
}

// stage is atomicfile.Stage(dst, force, write): an error of write is
// returned as write gave it, one of dst as outputError makes it.
func stage(dst string, force bool, write func(io.Writer) error) (*atomicfile.Staged, error) {
	var werr error
	s, err := atomicfile.Stage(dst, force, func(w io.Writer) error {
		werr = write(w)
		return werr
	})
	if err != nil {
		if werr != nil {
			return nil, werr
		}
		return nil, outputError(dst, err, force)
	}
	return s, nil
}

// outputError is the error of a failed stage or commit of an output:
// without force, an existing path is told to use --force (and exits 1, as
// refuseExisting's).
func outputError(path string, err error, force bool) error {
	if !force && errors.Is(err, fs.ErrExist) {
		return &exitError{code: 1, err: fmt.Errorf("convert: %s already exists (use --force to overwrite)", path)}
	}
	return fmt.Errorf("convert: %w", err)
}

// countingWriter counts the bytes written through it and keeps the first
// error of w, so that a failure of the output is told from one of the
// input.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// mkdirAll is os.MkdirAll(dir, 0o755) that returns the folders it made,
// outermost first; on an error it removes them again.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		p := filepath.Dir(d)
		if p == d {
			break
		}
		d = p
	}
	slices.Reverse(missing)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		for i := len(missing) - 1; i >= 0; i-- {
			os.Remove(missing[i])
		}
		return nil, err
	}
	return missing, nil
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

// humanSize formats a size in bytes for humans.
func humanSize(size int64) string {
	n := float64(size)
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
