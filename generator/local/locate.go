package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Files are the paths of one model's files.
type Files struct {
	Dir                     string // the folder holding the tokenizer files
	Vocab, Merges           string // vocab.json, merges.txt
	Encoder, Decoder, VQGAN string // .pt or .safetensors
	Config                  string // config.json overriding the inferred config; "" if absent
}

// ModelsDir is where model names are looked up: $TESSELLA_MODELS, else
// <user cache dir>/tessella/models.
func ModelsDir() string {
	if d := os.Getenv("TESSELLA_MODELS"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tessella", "models")
	}
	return filepath.Join(".", "models")
}

// Locate finds a model's files. model is "mini" or "mega" (looked up in
// modelsDir) or a directory in one of two layouts:
//
//   - min-dalle's own: ROOT/dalle_bart_{mini,mega}/{vocab.json, merges.txt,
//     encoder.pt, decoder.pt} and ROOT/vqgan/detoker.pt; DIR may be ROOT or
//     the dalle_bart_* folder;
//   - flat: DIR/{vocab.json, merges.txt, encoder.*, decoder.*, detoker.*}
//     where * is pt or safetensors.
//
// A config.json beside the tokenizer files overrides the inferred config.
func Locate(model, modelsDir string) (Files, error) {
	switch model {
	case "mini", "mega":
		root := modelsDir
		f, err := locateDir(filepath.Join(root, "dalle_bart_"+model))
		if err != nil {
			return Files{}, fmt.Errorf("model %s is not installed: %w\n\n%s", model, err, installHelp(model, root))
		}
		return f, nil
	case "":
		return Files{}, errors.New("no model named")
	}
	st, err := os.Stat(model)
	if err != nil {
		return Files{}, fmt.Errorf("--model %q is neither mini, mega, a directory nor a .safetensors model file: %w", model, err)
	}
	if !st.IsDir() {
		return Files{}, fmt.Errorf("--model %q is a file; give the directory that holds the model's files, or a .safetensors file in the default model's format", model)
	}
	var subs []string
	for _, name := range []string{"dalle_bart_mini", "dalle_bart_mega"} {
		if isDir(filepath.Join(model, name)) {
			subs = append(subs, name)
		}
	}
	switch len(subs) {
	case 1:
		return locateDir(filepath.Join(model, subs[0]))
	case 2:
		return Files{}, fmt.Errorf("%s holds both dalle_bart_mini and dalle_bart_mega; name one of them: --model %s",
			model, filepath.Join(model, "dalle_bart_mini"))
	}
	return locateDir(model)
}

// installHelp says exactly which files to put where.
func installHelp(model, root string) string {
	suffix := ""
	if model == "mini" {
		suffix = "_mini"
	}
	d := filepath.Join(root, "dalle_bart_"+model)
	return fmt.Sprintf(`Put min-dalle's published files (Hugging Face: kuprel/min-dalle) here:
  %s/vocab.json     ← vocab%s.json
  %s/merges.txt     ← merges%s.txt
  %s/encoder.pt     ← encoder%s.pt
  %s/decoder.pt     ← decoder%s.pt
  %s/detoker.pt  ← detoker.pt
(set TESSELLA_MODELS to use another models folder, or pass --model DIR)`,
		d, suffix, d, suffix, d, suffix, d, suffix, filepath.Join(root, "vqgan"))
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// firstFile returns the first of dir/name.ext (ext in exts) that exists.
func firstFile(dirs []string, names []string) string {
	for _, d := range dirs {
		for _, n := range names {
			for _, ext := range []string{".safetensors", ".pt"} {
				if p := filepath.Join(d, n+ext); isFile(p) {
					return p
				}
			}
		}
	}
	return ""
}

func locateDir(dir string) (Files, error) {
	f := Files{
		Dir:     dir,
		Vocab:   filepath.Join(dir, "vocab.json"),
		Merges:  filepath.Join(dir, "merges.txt"),
		Encoder: firstFile([]string{dir}, []string{"encoder"}),
		Decoder: firstFile([]string{dir}, []string{"decoder"}),
		VQGAN: firstFile([]string{dir, filepath.Join(dir, "vqgan"), filepath.Join(filepath.Dir(dir), "vqgan")},
			[]string{"detoker", "vqgan"}),
	}
	if p := filepath.Join(dir, "config.json"); isFile(p) {
		f.Config = p
	}
	var missing []string
	if !isFile(f.Vocab) {
		missing = append(missing, "vocab.json")
	}
	if !isFile(f.Merges) {
		missing = append(missing, "merges.txt")
	}
	if f.Encoder == "" {
		missing = append(missing, "encoder.pt (or encoder.safetensors)")
	}
	if f.Decoder == "" {
		missing = append(missing, "decoder.pt (or decoder.safetensors)")
	}
	if f.VQGAN == "" {
		missing = append(missing, "detoker.pt (here, or in ../vqgan/)")
	}
	if len(missing) > 0 {
		return Files{}, fmt.Errorf("%s lacks %s", dir, strings.Join(missing, ", "))
	}
	return f, nil
}
