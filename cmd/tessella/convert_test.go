package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
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
// outputs of the earlier files are not left behind, nor any temporary file.
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

// snapshot records every entry under root: its type and permission bits,
// and a link's target or a file's bytes.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		v := st.Mode().String()
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			v += " → " + target
		case st.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		m[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sameSnapshot fails, naming the differences, unless root is as before.
func sameSnapshot(t *testing.T, root string, before map[string]string) {
	t.Helper()
	after := snapshot(t, root)
	for k, v := range before {
		if w, ok := after[k]; !ok {
			t.Errorf("%s: %s is gone", root, k)
		} else if w != v {
			t.Errorf("%s: %s changed (%.60q, was %.60q)", root, k, w, v)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: %s appeared", root, k)
		}
	}
}

// convertSource copies the safetensors test model into a new folder,
// truncating the files named in damaged.
func convertSource(t *testing.T, damaged ...string) string {
	t.Helper()
	src := t.TempDir()
	for _, name := range []string{"config.json", "decoder.safetensors", "detoker.safetensors", "encoder.safetensors", "merges.txt", "vocab.json"} {
		b, err := os.ReadFile(filepath.Join(engineTestdata, "safetensors", name))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(damaged, name) {
			b = b[:len(b)/2]
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// convert --force writes through a symbolic link in OUT: the link stays,
// the file it leads to gets the converted bytes and keeps its mode.
func TestCmdConvertModelDirForceFollowsLinks(t *testing.T) {
	src := convertSource(t)
	out, elsewhere := filepath.Join(t.TempDir(), "out"), t.TempDir()
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(elsewhere, "dec.safetensors")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(target, 0o600) // past the umask
	link := filepath.Join(out, "decoder.safetensors")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symbolic links:", err)
	}
	var stdout, stderr bytes.Buffer
	if err := cmdConvert(context.Background(), []string{"--force", "--dtype", "f16", src, out}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if got, err := os.Readlink(link); err != nil || got != target {
		t.Errorf("OUT/decoder.safetensors: link to %q (%v), want the link to %s kept", got, err, target)
	}
	st, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("the link's target has mode %v, want 0600 kept", st.Mode().Perm())
	}
	var want bytes.Buffer
	if err := weights.ConvertTo(context.Background(), filepath.Join(src, "decoder.safetensors"), &want, weights.F16, weights.ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("the link's target holds %d bytes, want the %d converted ones", len(got), want.Len())
	}
	// The log line's size is the converted file's.
	if wantLine := fmt.Sprintf("→ %s (f16, %s)", link, humanSize(int64(want.Len()))); !strings.Contains(stderr.String(), wantLine) {
		t.Errorf("stderr lacks %q:\n%s", wantLine, stderr.String())
	}
	for _, name := range []string{"encoder.safetensors", "detoker.safetensors", "vocab.json", "merges.txt", "config.json"} {
		if st, err := os.Lstat(filepath.Join(out, name)); err != nil || !st.Mode().IsRegular() {
			t.Errorf("OUT/%s: %v", name, err)
		}
	}
	for _, d := range []string{out, elsewhere} {
		for k := range snapshot(t, d) {
			if strings.Contains(k, ".tmp-") || strings.HasPrefix(k, ".convert-") {
				t.Errorf("left in %s: %s", d, k)
			}
		}
	}
}

// A failure in the middle of convert --force (a damaged third input, an
// output that is a folder) leaves OUT, and the files its links lead to,
// byte for byte as they were, with no temporary file.
func TestCmdConvertModelDirFailureLeavesOut(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damaged []string
		folder  bool // OUT/detoker.safetensors is a folder
	}{
		{"damaged detoker", []string{"detoker.safetensors"}, false},
		{"detoker output is a folder", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, elsewhere := filepath.Join(t.TempDir(), "out"), t.TempDir()
			var stdout, stderr bytes.Buffer
			// OUT holds an earlier f32 conversion, with the decoder behind a link.
			if err := cmdConvert(context.Background(), []string{"--dtype", "f32", "--quiet", convertSource(t), out}, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(elsewhere, "dec.safetensors")
			if err := os.Rename(filepath.Join(out, "decoder.safetensors"), target); err != nil {
				t.Fatal(err)
			}
			os.Chmod(target, 0o600)
			if err := os.Symlink(target, filepath.Join(out, "decoder.safetensors")); err != nil {
				t.Skip("no symbolic links:", err)
			}
			if tc.folder {
				det := filepath.Join(out, "detoker.safetensors")
				if err := os.Remove(det); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(det, "keep"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			beforeOut, beforeElsewhere := snapshot(t, out), snapshot(t, elsewhere)
			err := cmdConvert(context.Background(), []string{"--force", "--dtype", "f16", convertSource(t, tc.damaged...), out}, &stdout, &stderr)
			if err == nil {
				t.Fatal("converted")
			}
			if tc.folder && !strings.Contains(err.Error(), "detoker.safetensors") {
				t.Errorf("error %q does not name the folder", err)
			}
			sameSnapshot(t, out, beforeOut)
			sameSnapshot(t, elsewhere, beforeElsewhere)
		})
	}
}

// Without --force, a failure leaves an existing OUT as it was, and a new
// OUT is not left behind (nor the folders made for it).
func TestCmdConvertModelDirFailureNoForce(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "existing")
	os.Mkdir(out, 0o755)
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	before := snapshot(t, root)
	src := convertSource(t, "detoker.safetensors")
	var stdout, stderr bytes.Buffer
	for _, o := range []string{out, filepath.Join(root, "new", "deeper")} {
		if err := cmdConvert(context.Background(), []string{"--dtype", "f16", src, o}, &stdout, &stderr); err == nil {
			t.Fatalf("%s: converted a damaged model", o)
		}
	}
	sameSnapshot(t, root, before)
}

// The single-file convert follows the same policy: --force writes through
// a link and keeps the mode; without it an existing link is refused.
func TestCmdConvertFileThroughLink(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	in := filepath.Join(engineTestdata, "pt", "vqgan", "detoker.pt")
	target := filepath.Join(elsewhere, "t.safetensors")
	os.WriteFile(target, []byte("old"), 0o600)
	os.Chmod(target, 0o600)
	link := filepath.Join(dir, "out.safetensors")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symbolic links:", err)
	}
	var stdout, stderr bytes.Buffer
	if err := cmdConvert(context.Background(), []string{"--dtype", "f16", in, link}, &stdout, &stderr); exitCode(err) != 1 || !strings.Contains(err.Error(), "--force") {
		t.Errorf("existing link without --force: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "old" {
		t.Fatal("the link's target was written without --force")
	}
	if err := cmdConvert(context.Background(), []string{"--dtype", "f16", "--force", in, link}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(link); err != nil || got != target {
		t.Errorf("link to %q (%v), want %s kept", got, err, target)
	}
	var want bytes.Buffer
	if err := weights.ConvertTo(context.Background(), in, &want, weights.F16, weights.ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("target holds %d bytes, want the %d converted ones", len(got), want.Len())
	}
	if st, _ := os.Stat(target); st == nil || st.Mode().Perm() != 0o600 {
		t.Errorf("target mode %v, want 0600 kept", st)
	}
	// A link to the input itself is refused.
	self := filepath.Join(dir, "self.safetensors")
	abs, _ := filepath.Abs(filepath.Join(engineTestdata, "safetensors", "decoder.safetensors"))
	os.Symlink(abs, self)
	if err := cmdConvert(context.Background(), []string{"--dtype", "f16", "--force", abs, self}, &stdout, &stderr); exitCode(err) != 2 {
		t.Errorf("OUT a link to IN: %v", err)
	}
}

// A model-folder OUT whose file is a link to one of the inputs is refused
// with --force: it would replace the model's own file.
func TestCmdConvertModelDirLinkToInput(t *testing.T) {
	src := convertSource(t)
	out := t.TempDir()
	if err := os.Symlink(filepath.Join(src, "encoder.safetensors"), filepath.Join(out, "encoder.safetensors")); err != nil {
		t.Skip("no symbolic links:", err)
	}
	before := snapshot(t, src)
	var stdout, stderr bytes.Buffer
	if err := cmdConvert(context.Background(), []string{"--dtype", "f16", "--force", src, out}, &stdout, &stderr); exitCode(err) != 2 || !strings.Contains(err.Error(), "input") {
		t.Errorf("OUT/encoder.safetensors a link to the input: %v", err)
	}
	sameSnapshot(t, src, before)
}

// Two outputs whose links lead to one file (here encoder → a shared file,
// decoder → a dangling link to the same name) are refused before anything
// is written: following both, the second would replace the first.
func TestCmdConvertModelDirTwoOutputsOneFile(t *testing.T) {
	src := convertSource(t)
	out, elsewhere := filepath.Join(t.TempDir(), "out"), t.TempDir()
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(elsewhere, "shared")
	if err := os.WriteFile(shared, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, filepath.Join(out, "encoder.safetensors")); err != nil {
		t.Skip("no symbolic links:", err)
	}
	if err := os.Symlink(shared, filepath.Join(out, "decoder.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("detoker.safetensors", filepath.Join(out, "vocab.json")); err != nil { // dangling, into OUT
		t.Fatal(err)
	}
	beforeOut, beforeElsewhere := snapshot(t, out), snapshot(t, elsewhere)
	var stdout, stderr bytes.Buffer
	err := cmdConvert(context.Background(), []string{"--force", "--dtype", "f16", src, out}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "lead to the same file") {
		t.Fatalf("err = %v, want two outputs leading to one file refused", err)
	}
	if got, _ := os.ReadFile(shared); string(got) != "old" {
		t.Errorf("the shared file was written: %d bytes", len(got))
	}
	sameSnapshot(t, out, beforeOut)
	sameSnapshot(t, elsewhere, beforeElsewhere)

	// The dangling pair alone is refused too.
	os.Remove(filepath.Join(out, "decoder.safetensors"))
	os.Remove(filepath.Join(out, "encoder.safetensors"))
	err = cmdConvert(context.Background(), []string{"--force", "--dtype", "f16", src, out}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "lead to the same file") {
		t.Fatalf("err = %v, want the dangling link vocab.json → detoker.safetensors refused", err)
	}
}
