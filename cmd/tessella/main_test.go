package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/generator/local"
)

// runCLI runs one command line and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestGenerateWritesPNGWithMetadata(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "star.png")
	tok := filepath.Join(dir, "tokens.json")
	code, _, stderr := runCLI(t, "generate", "--quiet", "--seed", "9", "-o", out, "--tokens-out", tok, "a red star above a blue ring")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "seed 9") || !strings.Contains(stderr, out) {
		t.Errorf("summary line lacks the seed or the path: %q", stderr)
	}
	meta := pngMeta(t, out)
	eng, err := local.Open(local.Options{}) // the default model's own sampling defaults
	if err != nil {
		t.Fatal(err)
	}
	d := eng.Defaults()
	eng.Close()
	for k, want := range map[string]string{"prompt": "a red star above a blue ring", "seed": "9", "rng": "go",
		"top-k": strconv.Itoa(d.TopK), "supercondition": strconv.FormatFloat(d.Supercondition, 'g', -1, 64), "grid": "1"} {
		if meta[k] != want {
			t.Errorf("metadata %s = %q, want %q", k, meta[k], want)
		}
	}
	if !strings.HasPrefix(meta["software"], "tessella ") {
		t.Errorf("metadata software = %q", meta["software"])
	}

	code, stdout, _ := runCLI(t, "inspect", out)
	if code != 0 || !strings.Contains(stdout, "prompt: a red star above a blue ring") {
		t.Errorf("inspect of the PNG: exit %d, %q", code, stdout)
	}

	// The same seed again, without --force: refused, the file untouched.
	before, _ := os.ReadFile(out)
	code, _, stderr = runCLI(t, "generate", "--quiet", "--seed", "9", "-o", out, "a red star above a blue ring")
	if code == 0 || !strings.Contains(stderr, "exist") {
		t.Errorf("overwrote without --force: exit %d, %q", code, stderr)
	}
	after, _ := os.ReadFile(out)
	if !bytes.Equal(before, after) {
		t.Error("the existing file changed")
	}

	// decode turns the tokens back into the same pixels.
	again := filepath.Join(dir, "again.png")
	if code, _, stderr := runCLI(t, "decode", "--tokens", tok, "-o", again); code != 0 {
		t.Fatalf("decode: exit %d: %s", code, stderr)
	}
	if !samePixels(t, out, again) {
		t.Error("decode of --tokens-out gives another image")
	}
}

func samePixels(t *testing.T, a, b string) bool {
	t.Helper()
	ia, ib := decodeFile(t, a), decodeFile(t, b)
	return bytes.Equal(ia, ib)
}

func decodeFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := pngDecode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestGenerateGridAndTorchRNG(t *testing.T) {
	out := filepath.Join(t.TempDir(), "grid.png")
	code, _, stderr := runCLI(t, "generate", "--quiet", "--grid", "2", "--rng", "torch", "--seed", "3", "--scale", "1", "-o", out, "two rings")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, _ := os.Open(out)
	defer f.Close()
	cfg, err := pngConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 128 || cfg.Height != 128 {
		t.Errorf("2×2 grid of 64 px images is %d×%d", cfg.Width, cfg.Height)
	}
}

// --candidates keeps the best of K and says so, and how it ranked them,
// in the PNG's metadata; --no-judge switches the default model's judge off.
func TestGenerateCandidates(t *testing.T) {
	for _, c := range []struct {
		extra   []string
		ranking string
	}{{nil, "judge"}, {[]string{"--no-judge"}, "self"}} { // the default model has a judge
		out := filepath.Join(t.TempDir(), "best.png")
		args := append([]string{"generate", "--quiet", "--candidates", "3", "--seed", "3", "--scale", "1", "-o", out}, c.extra...)
		code, _, stderr := runCLI(t, append(args, "two rings")...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.extra, code, stderr)
		}
		if meta := pngMeta(t, out); meta["candidates"] != "3" || meta["ranking"] != c.ranking {
			t.Errorf("%v: PNG metadata %v: want candidates 3, ranking %s", c.extra, meta, c.ranking)
		}
	}
}

// pngMeta returns the tEXt metadata of the PNG file at path.
func pngMeta(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta, err := generator.ReadPNGText(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return meta
}

// Bad input: a clear message and a non-zero exit, never a panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	badTokens := filepath.Join(dir, "bad.json")
	os.WriteFile(badTokens, []byte(`{"tokens": [[1, 2, 3]]}`), 0o644)
	rangeTokens := filepath.Join(dir, "range.json")
	row := make([]int, 256)
	row[5] = 99999
	b, _ := json.Marshal(map[string]any{"tokens": [][]int{row}})
	os.WriteFile(rangeTokens, b, 0o644)
	notJSON := filepath.Join(dir, "x.json")
	os.WriteFile(notJSON, []byte("tokens"), 0o644)
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	os.WriteFile(corrupt, []byte("\x10\x00\x00\x00\x00\x00\x00\x00{not json}"), 0o644)
	out := filepath.Join(dir, "o.png")
	existing := filepath.Join(dir, "keep.png") // a file of the user's that no failed command may touch
	os.WriteFile(existing, []byte("the user's file"), 0o644)
	aDir := filepath.Join(dir, "adir")
	os.Mkdir(aDir, 0o755)
	trailing := filepath.Join(dir, "trailing.json")
	os.WriteFile(trailing, append(b, []byte(" garbage")...), 0o644)
	fakePNG := filepath.Join(dir, "fake.png")
	os.WriteFile(fakePNG, []byte("not an image at all"), 0o644)
	// Two dangling links to one file: with --force both writes would land
	// there, the tokens over the image.
	linkImg, linkTok := filepath.Join(dir, "img-link.png"), filepath.Join(dir, "tok-link.json")
	os.Symlink("one-target", linkImg)
	os.Symlink("one-target", linkTok)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"generate", "--grid", "0", "x"}, 2, "--grid"},
		{[]string{"generate", "--temperature", "-1", "x"}, 2, "--temperature"},
		{[]string{"generate", "--top-k", "-3", "x"}, 2, "--top-k"},
		{[]string{"generate", "--rng", "mt", "x"}, 2, "--rng"},
		{[]string{"generate", "--candidates", "0", "x"}, 2, "--candidates"},
		{[]string{"generate", "--temperature", "NaN", "x"}, 2, "--temperature"},
		{[]string{"generate", "--supercondition", "NaN", "x"}, 2, "--supercondition"},
		{[]string{"eval", "shapes", "--supercondition", "-Inf"}, 2, "--supercondition"},
		{[]string{"eval", "shapes", "--candidates", "0"}, 2, "--candidates"},
		{[]string{"inspect", "a", "b"}, 2, "at most one PATH"},
		{[]string{"generate", "--candidates", "17", "x"}, 2, "--candidates"},
		{[]string{"generate", "--backend", "openai", "--candidates", "2", "x"}, 2, "--candidates"},
		{[]string{"generate"}, 2, "PROMPT"},
		{[]string{"generate", "a", "b"}, 2, "PROMPT"},
		{[]string{"generate", "--size", "512x512", "x"}, 2, "--size"},
		{[]string{"generate", "--backend", "openai", "--seed", "1", "x"}, 2, "--seed"},
		{[]string{"generate", "--backend", "dalle", "x"}, 2, "--backend"},
		{[]string{"generate", "--model", filepath.Join(dir, "nope"), "x"}, 1, "nope"},
		{[]string{"generate", "--top-k", "5000", "-o", out, "x"}, 1, "top_k"},
		{[]string{"decode", "--tokens", badTokens, "-o", out}, 1, "256"},
		{[]string{"decode", "--tokens", rangeTokens, "-o", out}, 1, "99999"},
		{[]string{"decode", "--tokens", notJSON, "-o", out}, 1, "tokens file"},
		{[]string{"decode", "-o", out}, 2, "--tokens"},
		{[]string{"inspect", corrupt}, 1, "corrupt.safetensors"},
		{[]string{"inspect", filepath.Join(dir, "missing.pt")}, 1, "missing.pt"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"bench", "quantum"}, 2, "unknown suite"},
		{[]string{"bench", "model", "--candidates", "0"}, 2, "--candidates"},
		{[]string{"generate", "--dtype", "f8", "x"}, 2, "--dtype"},
		{[]string{"eval", "shapes", "--dtype", "f8"}, 2, "--dtype"},
		{[]string{"serve", "--dtype", "f8"}, 2, "--dtype"},
		{[]string{"bench", "model", "--dtype", "f8"}, 2, "--dtype"},
		{[]string{"convert", "--dtype", "f16", "--float", "bf16", "a", "b"}, 2, "--float"},
		{[]string{"generate", "--threads", "5000", "x"}, 2, "--threads"},
		{[]string{"generate", "--temperature", "1e308", "x"}, 2, "--temperature"},
		{[]string{"generate", "--temperature", "1e-300", "x"}, 2, "--temperature"},
		{[]string{"generate", "--supercondition", "1e300", "x"}, 2, "--supercondition"},
		{[]string{"generate", "--supercondition", "-5", "x"}, 2, "--supercondition"},
		{[]string{"generate", "--supercondition", "2e6", "x"}, 2, "--supercondition"},
		{[]string{"generate", "--grid", "9", "x"}, 2, "at most 8"},
		{[]string{"generate", "--grid", "4294967296", "x"}, 2, "at most 8"},
		{[]string{"generate", "--tokens-out", out, "-o", out, "x"}, 2, "same file"},
		{[]string{"generate", "--force", "--tokens-out", linkTok, "-o", linkImg, "x"}, 2, "same file"},
		{[]string{"generate", "--tokens-out", existing, "-o", out, "x"}, 1, "already exists"},
		{[]string{"generate", "-o", filepath.Join(existing, "x.png"), "x"}, 1, "not a folder"},
		{[]string{"trace", "--out", filepath.Join(dir, "tr"), "--temperature", "NaN", "x"}, 2, "--temperature"},
		{[]string{"trace", "--out", filepath.Join(dir, "tr"), "--supercondition", "NaN", "x"}, 2, "--supercondition"},
		{[]string{"eval", "shapes", "--threads", "5000"}, 2, "--threads"},
		{[]string{"eval", "shapes", "--sheet", existing}, 1, "already exists"},
		{[]string{"eval", "shapes", "--sheet", aDir}, 1, "folder"},
		{[]string{"eval", "shapes", "--sheet", filepath.Join(dir, "s.txt")}, 2, ".png"},
		{[]string{"serve", "--workers", "1000000"}, 2, "--workers"},
		{[]string{"serve", "--max-body", "0"}, 2, "--max-body"},
		{[]string{"serve", "--max-queue", "-1"}, 2, "--max-queue"},
		{[]string{"serve", "--threads", "5000"}, 2, "--threads"},
		{[]string{"bench", "gemm", "extra", "--backends", "bogus"}, 2, "unexpected arguments"},
		{[]string{"bench", "scaling", "--threads", "1000000"}, 2, "--threads"},
		{[]string{"bench", "attention", "--threads", "1,,2"}, 2, "--threads"},
		{[]string{"bench", "gemm", "--samples", "0"}, 2, "--samples"},
		{[]string{"bench", "model", "--format", "xml"}, 2, "--format"},
		{[]string{"bench", "model", "--threads", "5000"}, 2, "--threads"},
		{[]string{"bench", "model", "--model", "tiny-random", "--cpuprofile", existing}, 1, "already exists"},
		{[]string{"eval", "compare", notJSON, notJSON}, 1, "not a JSON report"},
		{[]string{"version", "extra"}, 2, "no arguments"},
		{[]string{"bench", "attention", "--plot", filepath.Join(existing, "plots")}, 1, "plots"},
		{[]string{"pull", "--retries", "-1", "mini"}, 2, "--retries"},
		{[]string{"decode", "--tokens", trailing, "-o", out}, 1, "more after"},
		{[]string{"inspect", fakePNG}, 1, "not a PNG"},
		{[]string{"convert", "--dtype", "f16", corrupt, ""}, 2, "non-empty"},
	} {
		code, _, stderr := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want it to mention %q)", c.args, code, c.code, stderr, c.msg)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed command left an output file")
	}
	if b, err := os.ReadFile(existing); err != nil || string(b) != "the user's file" {
		t.Errorf("a failed command changed the user's file: %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(aDir); len(entries) != 0 {
		t.Errorf("a failed command wrote into %s: %v", aDir, entries)
	}
	if _, err := os.Stat(aDir + ".png"); err == nil {
		t.Error("eval --sheet DIR wrote DIR.png")
	}
}

func TestTokenizeAndInspect(t *testing.T) {
	model := filepath.Join(engineTestdata, "safetensors")
	code, stdout, stderr := runCLI(t, "tokenize", "--model", model, "--json", "A red star!")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Subwords []string `json:"subwords"`
		IDs      []int    `json:"ids"`
		Rows     [][]int  `json:"encoder_rows"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.IDs) != len(got.Subwords) || got.IDs[0] != 0 || got.IDs[len(got.IDs)-1] != 2 || len(got.Rows) != 2 || len(got.Rows[1]) != 64 {
		t.Errorf("tokenize: %+v", got)
	}
	code, stdout, stderr = runCLI(t, "inspect", filepath.Join(engineTestdata, "pt"))
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"encoder.pt (pt)", "layers.0.glu.fc0.weight", "parameters", `"width": 64`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect output lacks %q", want)
		}
	}
}

// Outputs are checked before the work: an existing --tokens-out or a
// missing folder stops generate before it writes anything; trace will not
// write into a non-empty folder, convert not over its input.
func TestOutputsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok.json")
	os.WriteFile(tok, []byte("keep"), 0o644)
	out := filepath.Join(dir, "g.png")
	if code, _, stderr := runCLI(t, "generate", "--quiet", "-o", out, "--tokens-out", tok, "cat"); code == 0 || !strings.Contains(stderr, "tok.json already exists") {
		t.Errorf("existing --tokens-out: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the image was written although --tokens-out was refused")
	}
	if code, _, stderr := runCLI(t, "generate", "--quiet", "-o", filepath.Join(dir, "nodir", "x.png"), "cat"); code == 0 || !strings.Contains(stderr, "does not exist") {
		t.Errorf("missing folder: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "generate", "--quiet", "-o", dir, "cat"); code == 0 || !strings.Contains(stderr, "is a folder") {
		t.Errorf("folder as output: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "trace", "--out", dir, "cat"); code == 0 || !strings.Contains(stderr, "not empty") {
		t.Errorf("trace into a non-empty folder: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "trace", "--temperature", "-1", "--out", filepath.Join(dir, "tr"), "cat"); code != 2 {
		t.Errorf("trace --temperature -1: exit %d, %q", code, stderr)
	}
	zeros := filepath.Join(dir, "zeros.json")
	b, _ := json.Marshal(map[string]any{"tokens": [][]int{make([]int, 256)}})
	os.WriteFile(zeros, b, 0o644)
	if code, _, stderr := runCLI(t, "decode", "--scale", "100000", "--tokens", zeros, "-o", filepath.Join(dir, "d.png")); code == 0 || !strings.Contains(stderr, "scale 100000") {
		t.Errorf("decode --scale 100000: exit %d, %q", code, stderr)
	}
	w := filepath.Join(dir, "w.safetensors")
	data, _ := os.ReadFile(filepath.Join(engineTestdata, "safetensors", "encoder.safetensors"))
	os.WriteFile(w, data, 0o644)
	if code, _, stderr := runCLI(t, "convert", "--dtype", "f16", "--force", w, w); code != 2 || !strings.Contains(stderr, "input itself") {
		t.Errorf("convert onto its input: exit %d, %q", code, stderr)
	}
}

// trace refuses a non-empty --out folder (in the library as well, since
// trace.Run checks it) and writes into it with --force, replacing only the
// report's own files.
func TestTraceForce(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(mine, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "trace", "--out", dir, "cat"); code != 1 || !strings.Contains(stderr, "not empty") || !strings.Contains(stderr, "--force") {
		t.Errorf("trace into a non-empty folder: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err == nil {
		t.Error("the refused trace wrote index.html")
	}
	code, stdout, stderr := runCLI(t, "trace", "--force", "--every", "64", "--out", dir, "cat")
	if code != 0 {
		t.Fatalf("trace --force: exit %d, %q", code, stderr)
	}
	if want := filepath.Join(dir, "index.html"); strings.TrimSpace(stdout) != want {
		t.Errorf("trace --force printed %q, want %q", stdout, want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "index.html")); err != nil || !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) {
		t.Errorf("trace --force: no report (%v)", err)
	}
	if b, _ := os.ReadFile(mine); string(b) != "keep" {
		t.Errorf("trace --force changed a file that is not part of the report: %q", b)
	}
}

// Flags may follow the prompt (tessella generate "a red star" -o star.png),
// and "--" makes what follows positional even if it starts with a dash.
func TestFlagsAfterPositional(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "star.png")
	if code, _, stderr := runCLI(t, "generate", "a red star", "--model", "tiny-random", "--quiet", "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "tokenize", "--model", "tiny-random", "--", "-a star-")
	if code != 0 || stdout == "" {
		t.Fatalf("tokenize after --: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "generate", "a red star", "a blue ring", "--model", "tiny-random"); code != 2 || !strings.Contains(stderr, "exactly one PROMPT") {
		t.Errorf("two prompts: exit %d, %q", code, stderr)
	}
}

// inspect without a PATH lists the built-in model, with its sampling
// defaults as the engine reads them.
func TestInspectBuiltIn(t *testing.T) {
	code, stdout, stderr := runCLI(t, "inspect")
	if !local.DefaultModelEmbedded() {
		if code != 1 || !strings.Contains(stderr, "no built-in default model") {
			t.Errorf("inspect without a built-in model: exit %d, %q", code, stderr)
		}
		return
	}
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	eng, err := local.Open(local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := eng.Defaults()
	eng.Close()
	for _, want := range []string{"built-in default model", "decoder.embed_tokens.weight", "total",
		"defaults.candidates = " + strconv.Itoa(d.Candidates) + "\n",
		"defaults.top_k = " + strconv.Itoa(d.TopK) + "\n",
		"tokenizer.vocab ("} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect output lacks %q", want)
		}
	}
}

// bench attention --plot refuses existing plot files before measuring,
// and replaces them with --force.
func TestBenchAttentionPlotForce(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "attention_roofline.png")
	os.WriteFile(mine, []byte("the user's plot"), 0o644)
	args := []string{"bench", "attention", "--plot", dir, "--shapes", "sweep-N16-d8", "--kernels", "flash",
		"--threads", "1", "--min-time", "1ms"}
	code, stdout, stderr := runCLI(t, args...)
	if code != 1 || !strings.Contains(stderr, "already exists") || stdout != "" {
		t.Errorf("existing plot: exit %d, stdout %q, stderr %q; want exit 1, nothing measured, already exists", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(mine); string(b) != "the user's plot" {
		t.Fatalf("the user's plot was changed: %q", b)
	}
	code, _, stderr = runCLI(t, append(args, "--force")...)
	if code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(mine); !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("--force did not replace the plot: %.20q", b)
	}
}

// generate --force -o LINK, LINK a link to a folder, fails before the
// generation (no preview is written) and says why; so do bench model
// --cpuprofile and bench attention --plot with such a link.
func TestOutputLinkToFolder(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "real")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "img.png")
	if err := os.Symlink("real", link); err != nil {
		t.Skip("no symbolic links:", err)
	}
	code, _, stderr := runCLI(t, "generate", "--quiet", "--force", "--preview", "8", "-o", link, "cat")
	if code != 1 || !strings.Contains(stderr, link) || !strings.Contains(stderr, "link to a folder") {
		t.Errorf("generate --force -o LINK-TO-FOLDER: exit %d, %q; want exit 1 and a message naming the link to a folder", code, stderr)
	}
	if got, _ := os.ReadDir(dir); len(got) != 2 {
		var names []string
		for _, e := range got {
			names = append(names, e.Name())
		}
		t.Errorf("the folder holds %v: generate ran (previews) before refusing", names)
	}
	if got, _ := os.ReadDir(folder); len(got) != 0 {
		t.Errorf("the linked folder holds %d entries", len(got))
	}
	// With --force, a link into a missing folder fails before the work too
	// (the old probe looked at the link's own folder).
	far := filepath.Join(dir, "far.png")
	os.Symlink(filepath.Join("missing", "x.png"), far)
	if code, _, stderr := runCLI(t, "generate", "--quiet", "--force", "-o", far, "cat"); code != 1 || !strings.Contains(stderr, "cannot write") || !strings.Contains(stderr, "missing") {
		t.Errorf("generate --force -o LINK-INTO-MISSING-FOLDER: exit %d, %q", code, stderr)
	}
	if code, stdout, stderr := runCLI(t, "bench", "model", "--model", "tiny-random", "--force", "--cpuprofile", link); code != 1 || !strings.Contains(stderr, "link to a folder") || stdout != "" {
		t.Errorf("bench model --cpuprofile LINK-TO-FOLDER: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	plots := filepath.Join(dir, "plots")
	os.Mkdir(plots, 0o755)
	os.Symlink(folder, filepath.Join(plots, "attention_roofline.png"))
	code, stdout, stderr := runCLI(t, "bench", "attention", "--plot", plots, "--force", "--shapes", "sweep-N16-d8", "--kernels", "flash",
		"--threads", "1", "--min-time", "1ms")
	if code != 1 || !strings.Contains(stderr, "not a regular file") || stdout != "" {
		t.Errorf("bench attention --plot with a plot a link to a folder: exit %d, stdout %q, stderr %q; want exit 1, nothing measured", code, stdout, stderr)
	}
	if got, _ := os.ReadDir(plots); len(got) != 1 {
		t.Errorf("the plot folder holds %d entries, want the link only", len(got))
	}
}
