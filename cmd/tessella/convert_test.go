package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/weights"
)

var engineTestdata = filepath.Join("..", "..", "testdata", "engine")

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return 1
	}
	return 0
}

// A model folder converts into a flat folder that the engine loads; a
// second run refuses to overwrite it without --force.
func TestCmdConvertModelDir(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q8")
	var stdout, stderr bytes.Buffer
	args := []string{filepath.Join(engineTestdata, "pt"), out, "--dtype", "q8"}
	if err := cmdConvert(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if strings.TrimSpace(stdout.String()) != out {
		t.Errorf("stdout %q", stdout.String())
	}
	for _, name := range []string{"encoder.safetensors", "decoder.safetensors", "detoker.safetensors", "vocab.json", "merges.txt", "config.json"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	f, err := weights.Open(filepath.Join(out, "decoder.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if tn, _ := f.Tensor("lm_head.weight"); !tn.IsQ8() {
		t.Error("lm_head is not q8")
	}
	f.Close()
	eng, err := local.Open(local.Options{Model: out})
	if err != nil {
		t.Fatal(err)
	}
	eng.Close()
	err = cmdConvert(context.Background(), args, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second run: %v", err)
	}
	if err := cmdConvert(context.Background(), append(args, "--force", "--dtype", "f16"), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if err := cmdConvert(context.Background(), []string{filepath.Join(engineTestdata, "safetensors"), filepath.Join(engineTestdata, "safetensors"), "--dtype", "f16", "--force"}, &stdout, &stderr); exitCode(err) != 2 {
		t.Errorf("converting a folder into itself: %v", err)
	}
}

// A folder whose last weight file is damaged converts to nothing: the
// outputs of the earlier files are not left behind, nor is the scratch folder.
func TestCmdConvertModelDirAllOrNothing(t *testing.T) {
	src := t.TempDir()
	for _, name := range []string{"config.json", "decoder.safetensors", "detoker.safetensors", "encoder.safetensors", "merges.txt", "vocab.json"} {
		b, err := os.ReadFile(filepath.Join(engineTestdata, "safetensors", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "detoker.safetensors" {
			b = b[:len(b)/2]
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "f16")
	var stdout, stderr bytes.Buffer
	if err := cmdConvert(context.Background(), []string{src, out, "--dtype", "f16"}, &stdout, &stderr); err == nil {
		t.Fatal("a truncated detoker.safetensors converted")
	}
	left, _ := os.ReadDir(out)
	for _, e := range left {
		t.Errorf("left behind in OUT: %s", e.Name())
	}
	// The same folder, whole, converts and leaves only the six outputs.
	b, _ := os.ReadFile(filepath.Join(engineTestdata, "safetensors", "detoker.safetensors"))
	if err := os.WriteFile(filepath.Join(src, "detoker.safetensors"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmdConvert(context.Background(), []string{src, out, "--dtype", "f16"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if left, _ := os.ReadDir(out); len(left) != 6 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("OUT holds %v, want the six outputs", names)
	}
}

func TestCmdConvertFile(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(engineTestdata, "pt", "vqgan", "detoker.pt")
	var stdout, stderr bytes.Buffer
	if err := cmdConvert(context.Background(), []string{"--dtype=bf16", "--quiet", in, dir}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "detoker.safetensors")
	f, err := weights.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if m := f.Metadata(); m["tessella.dtype"] != "bf16" {
		t.Errorf("metadata %v", m)
	}
	f.Close()
	if stderr.Len() != 0 {
		t.Errorf("--quiet wrote %q", stderr.String())
	}
	for name, args := range map[string][]string{
		"no dtype":    {in, out + "2"},
		"bad dtype":   {"--dtype", "q4", in, out + "2"},
		"bad float":   {"--dtype", "q8", "--float", "q8", in, out + "2"},
		"three paths": {"--dtype", "f16", in, out, out},
	} {
		if err := cmdConvert(context.Background(), args, &stdout, &stderr); exitCode(err) != 2 {
			t.Errorf("%s: %v (want a usage error)", name, err)
		}
	}
	if err := cmdConvert(context.Background(), []string{"--dtype", "f16", in, out}, &stdout, &stderr); exitCode(err) != 1 {
		t.Errorf("existing output: %v", err)
	}
}

// tessella pull against a local server: flags after the model name, the
// files in min-dalle's layout, converted to f16.
func TestCmdPull(t *testing.T) {
	src := map[string]string{
		"vocab_mini.json": "pt/dalle_bart_mini/vocab.json", "merges_mini.txt": "pt/dalle_bart_mini/merges.txt",
		"encoder_mini.pt": "pt/dalle_bart_mini/encoder.pt", "decoder_mini.pt": "pt/dalle_bart_mini/decoder.pt",
		"detoker.pt": "pt/vqgan/detoker.pt",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := src[strings.TrimPrefix(r.URL.Path, "/m/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(engineTestdata, filepath.FromSlash(p)))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(b))
	}))
	defer srv.Close()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := cmdPull(context.Background(), []string{"mini", "--dtype", "f16", "--models", dir, "--base-url", srv.URL + "/m"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != filepath.Join(dir, "dalle_bart_mini") {
		t.Errorf("stdout %q", got)
	}
	if !strings.Contains(stderr.String(), "converted to f16") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	f, err := local.Locate("mini", dir)
	if err != nil || filepath.Ext(f.Decoder) != ".safetensors" {
		t.Errorf("Locate: %+v, %v", f, err)
	}
	if err := cmdPull(context.Background(), []string{"maxi"}, &stdout, &stderr); exitCode(err) != 2 {
		t.Errorf("pull maxi: %v", err)
	}
	if err := cmdPull(context.Background(), []string{"mega", "--models", dir, "--base-url", srv.URL + "/m", "--quiet"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("pull mega from a host without it: %v", err)
	}
}
