package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/tokenizer"
	"github.com/tessella-ml/tessella/weights"
)

// newFlagSet is a command's flag set: parsing returns its errors (see
// parseFlags) and messages go to stderr; a usage text, if not "", is printed
// above the flags' defaults on -h and on a wrong flag.
func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if usage != "" {
		fs.Usage = func() {
			fmt.Fprint(stderr, usage)
			fs.PrintDefaults()
		}
	}
	return fs
}

// modelFlag defines --model as decode, tokenize, trace and serve take it.
func modelFlag(fs *flag.FlagSet) *string {
	return fs.String("model", "", "model: mini, mega, a directory, a .safetensors model file, or empty for the default model")
}

// parseFlags parses args into fs and maps -h and parse errors to errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return &exitError{code: 2, err: err}
	}
	return nil
}

func cmdDecode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("decode", stderr, "")
	modelArg := modelFlag(fs)
	tokPath := fs.String("tokens", "", "JSON file {\"tokens\": [[…], …]} as written by generate --tokens-out")
	out := fs.String("out", "", "output PNG")
	fs.StringVar(out, "o", "", "shorthand for --out")
	force := fs.Bool("force", false, "overwrite an existing output file")
	seamless := fs.Bool("seamless", false, "decode a grid's token maps as one seamless image")
	scale := fs.Int("scale", 0, "enlarge by this factor (0: the model's default)")
	threads := fs.Int("threads", 0, "threads (0: all cores)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *tokPath == "" || *out == "" || fs.NArg() != 0 {
		return usageError("decode: usage: tessella decode [--model M] --tokens FILE -o OUT.png")
	}
	if err := checkOutput(*out, "image.png", *force); err != nil {
		return err
	}
	b, err := os.ReadFile(*tokPath)
	if err != nil {
		return err
	}
	var tf tokensFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tf); err != nil {
		return fmt.Errorf("%s: not a tokens file: %w", *tokPath, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: not a tokens file: more after its JSON object", *tokPath)
	}
	eng, err := local.Open(local.Options{Model: *modelArg, Threads: *threads})
	if err != nil {
		return err
	}
	defer eng.Close()
	img, err := eng.Decode(ctx, tf.Tokens, *seamless, *scale)
	if err != nil {
		return fmt.Errorf("%s: %w", *tokPath, err)
	}
	res := &generator.Result{Images: []generator.Image{{Image: img}},
		Metadata: map[string]string{"model": eng.Name(), "tokens": filepath.Base(*tokPath)}}
	paths, err := generator.Save(res, generator.SaveOptions{Path: *out, Force: *force})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, paths[0])
	return nil
}

func cmdTokenize(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tokenize", stderr, "")
	modelArg := modelFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("tokenize: want exactly one TEXT (quote it)")
	}
	eng, err := local.Open(local.Options{Model: *modelArg})
	if err != nil {
		return err
	}
	defer eng.Close()
	tok := eng.Tokenizer()
	text := pos[0]
	ids := tok.Tokenize(text)
	pieces := append(append([]string{"<s>"}, tok.Subwords(text)...), "</s>")
	uncond, cond := tokenizer.TextRows(ids, eng.Model().Config.TextLen)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"text": text, "normalized": tok.Normalize(text), "subwords": pieces, "ids": ids,
			"encoder_rows": [][]int{uncond, cond}})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "subword\tid")
	for i, id := range ids {
		p := "?"
		if i < len(pieces) {
			p = pieces[i]
		}
		fmt.Fprintf(tw, "%q\t%d\n", p, id)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d tokens", len(ids))
	if len(ids) > len(cond) {
		fmt.Fprintf(stdout, " (truncated to %d: EOS is cut off, as the reference does)", len(cond))
	}
	fmt.Fprintln(stdout)
	return nil
}

func cmdInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", stderr, "")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError("inspect: want at most one PATH (a weights file, a model directory or a PNG; none: the built-in default model)")
	}
	if len(pos) == 0 {
		data, err := local.DefaultModelBytes()
		if errors.Is(err, iofs.ErrNotExist) {
			return errors.New("inspect: this binary has no built-in default model; give a PATH")
		}
		if err != nil {
			return err
		}
		f, err := weights.OpenBytes("built-in "+local.DefaultModelFile, data)
		if err != nil {
			return err
		}
		defer f.Close()
		listFile(f, "built-in default model ("+local.DefaultModelFile+")", stdout)
		return nil
	}
	path := pos[0]
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		f, err := local.Locate(path, "")
		if err != nil {
			return err
		}
		for _, p := range []string{f.Encoder, f.Decoder, f.VQGAN} {
			if err := inspectFile(p, stdout); err != nil {
				return err
			}
		}
		eng, err := local.Open(local.Options{Model: path})
		if err != nil {
			return err
		}
		defer eng.Close()
		b, _ := json.MarshalIndent(eng.Model().Config, "", "  ")
		fmt.Fprintf(stdout, "\nconfig:\n%s\n", b)
		return nil
	}
	if isPNG(path) {
		return inspectPNG(path, stdout)
	}
	if strings.EqualFold(filepath.Ext(path), ".png") {
		return fmt.Errorf("%s: not a PNG (it lacks the PNG signature)", path)
	}
	return inspectFile(path, stdout)
}

// isPNG reports whether the file starts with the PNG signature.
func isPNG(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var sig [8]byte
	_, err = io.ReadFull(f, sig[:])
	return err == nil && string(sig[:]) == "\x89PNG\r\n\x1a\n"
}

// inspectPNG prints an image's text metadata (what generate wrote).
func inspectPNG(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	meta, err := generator.ReadPNGText(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(w, "%s (png)\n", path)
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		fmt.Fprintf(w, "  %s: %s\n", k, meta[k])
	}
	return nil
}

// inspectFile lists a weights file's tensors and parameter counts per part.
func inspectFile(path string, w io.Writer) error {
	f, err := weights.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	listFile(f, path, w)
	return nil
}

// metaValueMax is the longest metadata value listFile prints in full.
const metaValueMax = 64

// listFile prints a weights file's tensors, its parameter counts per part
// and its metadata: short values in full (sampling defaults, dtypes), long
// ones (configs, tokenizer files) by size.
func listFile(f *weights.File, label string, w io.Writer) {
	fmt.Fprintf(w, "%s (%s)\n", label, f.Format())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	parts := map[string]int64{}
	var total int64
	for _, name := range f.Names() {
		t, _ := f.Tensor(name)
		n := int64(t.NumElements())
		total += n
		parts[partOf(name)] += n
		fmt.Fprintf(tw, "  %s\t%s\t%v\n", name, t.DType, t.Shape)
	}
	tw.Flush()
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-24s %14d parameters\n", k, parts[k])
	}
	fmt.Fprintf(w, "  %-24s %14d parameters\n", "total", total)
	md := f.Metadata()
	if len(md) == 0 {
		return
	}
	fmt.Fprintf(w, "  metadata:\n")
	for _, k := range slices.Sorted(maps.Keys(md)) {
		v := md[k]
		if utf8.RuneCountInString(v) <= metaValueMax && !strings.ContainsAny(v, "\n\r") {
			fmt.Fprintf(w, "    %s = %s\n", k, v)
		} else {
			fmt.Fprintf(w, "    %s (%d bytes)\n", k, len(v))
		}
	}
}

// partOf groups a tensor name: "layers.3.glu.fc0.weight" → "layers", a
// VQGAN's "decoder.up.2.block.0.conv1.weight" → "decoder.up.2".
func partOf(name string) string {
	p := strings.Split(name, ".")
	switch {
	case len(p) >= 3 && p[0] == "decoder" && (p[1] == "up" || p[1] == "mid"):
		if p[1] == "mid" {
			return "decoder.mid"
		}
		return strings.Join(p[:3], ".")
	case len(p) >= 2 && p[0] == "layers":
		return "layers"
	}
	return p[0]
}
