package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/gif"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tessella-ml/tessella/model"
	"github.com/tessella-ml/tessella/model/vqgan"
	"github.com/tessella-ml/tessella/tokenizer"
)

// tinyConfig is the shape of generator/local's "tiny-random" model (16×16
// tokens, 64×64 pixels), built here so that the tests need only packages
// model and tokenizer.
func tinyConfig() model.Config {
	return model.Config{TextVocab: 128, TextLen: 64, TextPad: tokenizer.PAD, Width: 128, Heads: 2, GLU: 256,
		EncoderLayers: 2, DecoderLayers: 2, ImageVocab: 1024, ImageTokens: 256, ImageBOS: 1023, LayerNormEps: 1e-5,
		VQGAN: vqgan.Config{Codebook: 1024, CodeDim: 32, Base: 32, ChannelMult: []int{1, 2, 2}, ResBlocks: 1,
			Groups: 8, Eps: 1e-5}}
}

// testSource is a random tiny model with a one-character-per-token
// tokenizer; it counts Exclusive calls.
type testSource struct {
	m         *model.Model
	tok       *tokenizer.Tokenizer
	exclusive int
}

func (s *testSource) Model() *model.Model             { return s.m }
func (s *testSource) Tokenizer() *tokenizer.Tokenizer { return s.tok }
func (s *testSource) Exclusive(f func() error) error {
	s.exclusive++
	return f()
}

func newTestSource(t testing.TB) *testSource {
	t.Helper()
	cfg := tinyConfig()
	enc, dec, err := model.RandomSource(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewModel(cfg, enc, dec, model.NewRandomWeights(vqgan.Shapes(cfg.VQGAN), 3))
	if err != nil {
		t.Fatal(err)
	}
	vocab := map[string]int{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "Ġ": 4}
	for c := byte('!'); c <= '~'; c++ {
		vocab[string(c)] = len(vocab)
	}
	b, err := json.Marshal(vocab)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.New(b, []byte("#version: 0.2\n"))
	if err != nil {
		t.Fatal(err)
	}
	return &testSource{m: m, tok: tok}
}

const testPrompt = "a red star top left"

// testOptions use K = 48, so that 256 tokens give 5 full previews and a
// last, shorter one: 6 frames.
func testOptions(dir string) Options {
	o := DefaultOptions(tinyConfig())
	o.Seed, o.PreviewEvery, o.OutDir = 7, 48, dir
	return o
}

var shared struct {
	once  sync.Once
	src   *testSource
	tr    *Trace
	dir   string
	err   error
	files []string
}

// report records the test prompt once and writes its report once.
func report(t *testing.T) (*testSource, *Trace, string) {
	t.Helper()
	shared.once.Do(func() {
		shared.src = newTestSource(t)
		// TESSELLA_TRACE_OUT keeps the report for a look.
		keep := os.Getenv("TESSELLA_TRACE_OUT")
		if keep != "" {
			shared.dir = keep
		} else if shared.dir, shared.err = os.MkdirTemp("", "tessella-trace-test-"); shared.err != nil {
			return
		}
		opts := testOptions(shared.dir)
		opts.Force = keep != "" // a kept report is replaced by the next run
		if shared.err = Run(context.Background(), shared.src, testPrompt, opts); shared.err != nil {
			return
		}
		// Run keeps the trace to itself; record it again (same seed) for
		// the numeric checks.
		shared.tr, shared.err = Record(context.Background(), shared.src.m, shared.src.tok, testPrompt, opts)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.src, shared.tr, shared.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" && os.Getenv("TESSELLA_TRACE_OUT") == "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func TestReportArtefacts(t *testing.T) {
	src, tr, dir := report(t)
	if src.exclusive != 1 {
		t.Errorf("Run called Exclusive %d times, want 1", src.exclusive)
	}
	if got := len(tr.TextValid); got != len(src.tok.Tokenize(testPrompt)) {
		t.Errorf("%d valid text positions, want %d", got, len(src.tok.Tokenize(testPrompt)))
	}
	html, err := os.ReadFile(filepath.Join(dir, FileIndex))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tr.Files() {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			t.Errorf("missing artefact: %v", err)
			continue
		}
		if st.Size() == 0 {
			t.Errorf("%s is empty", f)
		}
		if f != FileIndex && !bytes.Contains(html, []byte(`"`+f+`"`)) {
			t.Errorf("index.html does not link %s", f)
		}
	}
	for _, bad := range []string{"http://", "https://", "//cdn", "<script"} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("index.html contains %q: the report must open offline", bad)
		}
	}
	// Every PNG decodes; the image has the model's native size.
	for _, f := range tr.Files() {
		if !strings.HasSuffix(f, ".png") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if f == FileImage && (img.Bounds().Dx() != 64 || img.Bounds().Dy() != 64) {
			t.Errorf("%s is %v, want 64×64", f, img.Bounds())
		}
	}
	// The JSON holds the sampled tokens.
	var j struct {
		Tokens []int `json:"tokens"`
		Steps  []struct {
			Token int `json:"token"`
		} `json:"steps"`
	}
	b, err := os.ReadFile(filepath.Join(dir, FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Tokens) != 256 || len(j.Steps) != 256 {
		t.Fatalf("trace.json: %d tokens, %d steps, want 256", len(j.Tokens), len(j.Steps))
	}
	for i, s := range j.Steps {
		if s.Token != j.Tokens[i] {
			t.Fatalf("trace.json step %d token %d, tokens[%d] = %d", i, s.Token, i, j.Tokens[i])
		}
	}
}

// rowSum checks that row sums to 1 within 1e-5 and returns the sum.
func checkRow(t *testing.T, what string, row []float32) {
	t.Helper()
	var s float64
	for _, v := range row {
		if v < 0 || v != v {
			t.Fatalf("%s: probability %g", what, v)
		}
		s += float64(v)
	}
	if math.Abs(s-1) > 1e-5 {
		t.Fatalf("%s sums to %.8f", what, s)
	}
}

func TestAttentionRowsSumToOne(t *testing.T) {
	_, tr, _ := report(t)
	cfg := tr.Config
	S, T := cfg.ImageTokens, cfg.TextLen
	valid := make([]bool, T)
	for _, j := range tr.TextValid {
		valid[j] = true
	}
	for l, p := range tr.Encoder {
		for h := range p.Heads {
			for i := range T {
				row := p.Row(0, h, i)
				checkRow(t, "encoder", row)
				for j, v := range row {
					if !valid[j] && v != 0 {
						t.Fatalf("encoder layer %d head %d: padded key %d has weight %g", l, h, j, v)
					}
				}
			}
		}
	}
	for l, p := range tr.DecoderSelf {
		for h := range p.Heads {
			for i := range S {
				row := p.Row(0, h, i)
				checkRow(t, "decoder self", row[:i+1])
				for j := i + 1; j < S; j++ {
					if row[j] != 0 {
						t.Fatalf("decoder self layer %d head %d step %d: future slot %d has %g", l, h, i, j, row[j])
					}
				}
			}
		}
	}
	for l, p := range tr.Cross {
		for h := range p.Heads {
			for i := range S {
				row := p.Row(0, h, i)
				checkRow(t, "cross", row)
				for j, v := range row {
					if !valid[j] && v != 0 {
						t.Fatalf("cross layer %d head %d step %d: padded key %d has %g", l, h, i, j, v)
					}
				}
			}
		}
		// The mean map over heads is a mixture of rows: at each step its
		// values over the text tokens sum to 1 as well.
		for s := range S {
			var sum float64
			for _, j := range tr.TextValid {
				sum += float64(tr.CrossGrid(l, -1, j)[s])
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Fatalf("cross layer %d step %d: head-mean grid sums to %g over the tokens", l, s, sum)
			}
		}
	}
}

func TestGIFFrames(t *testing.T) {
	src, tr, dir := report(t)
	f, err := os.Open(filepath.Join(dir, FileGIF))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := gif.DecodeAll(f)
	if err != nil {
		t.Fatal(err)
	}
	K, S := tr.Options.PreviewEvery, tr.Config.ImageTokens
	want := (S + K - 1) / K // previews at K, 2K, … and the last token
	if len(g.Image) != want || len(tr.Frames) != want {
		t.Fatalf("GIF has %d frames, trace %d, want ⌈%d/%d⌉ = %d", len(g.Image), len(tr.Frames), S, K, want)
	}
	for i, fr := range tr.Frames {
		if wantStep := min(S, (i+1)*K); fr.Step != wantStep {
			t.Errorf("frame %d after %d tokens, want %d", i, fr.Step, wantStep)
		}
	}
	if b := g.Image[0].Bounds(); b.Dx() != 256 || b.Dy() != 256 {
		t.Errorf("GIF frames are %v, want 256×256 (64×64 enlarged 4×)", b)
	}
	// The last frame is the final image; the first one is decoded from the
	// first K tokens with the fill value ImageBOS elsewhere.
	final, err := src.m.Image(tr.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(final.Pix, tr.Frames[len(tr.Frames)-1].Image.Pix) {
		t.Error("the last frame is not the decoded final tokens")
	}
	first := make([]int, S)
	for i := range first {
		first[i] = tr.Config.ImageBOS
	}
	copy(first, tr.Tokens[:K])
	img0, err := src.m.Image(first)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img0.Pix, tr.Frames[0].Image.Pix) {
		t.Error("frame 0 is not the first K tokens with ImageBOS elsewhere")
	}
}

func TestTracingDoesNotChangeTheRun(t *testing.T) {
	src, tr, _ := report(t)
	o := tr.Options
	ids := src.tok.Tokenize(testPrompt)
	uncond, cond := tokenizer.TextRows(ids, tr.Config.TextLen)
	toks, err := src.m.GenerateTokens(context.Background(), [][]int{uncond, cond}, 1, o.sample(), model.NewGoRNG(o.Seed), nil)
	if err != nil {
		t.Fatal(err)
	}
	if src.m.Tracer != nil || src.m.Encoder.Tracer != nil || src.m.Decoder.Tracer != nil {
		t.Error("Record left a tracer on the model")
	}
	for i, tok := range toks[0] {
		if tok != tr.Tokens[i] {
			t.Fatalf("untraced token %d = %d, traced %d", i, tok, tr.Tokens[i])
		}
		s := tr.Steps[i]
		if s.Token != tok || !(s.Prob > 0) || s.Kept < o.TopK || s.Rank < 0 || s.Rank >= s.Kept {
			t.Fatalf("step %d info %+v inconsistent with token %d, top-k %d", i, s, tok, o.TopK)
		}
		if s.Entropy < 0 || s.Entropy > math.Log(float64(s.Kept))+1e-9 {
			t.Fatalf("step %d entropy %g outside [0, ln %d]", i, s.Entropy, s.Kept)
		}
	}
}

func TestRecordErrors(t *testing.T) {
	src := newTestSource(t)
	ctx := context.Background()
	o := testOptions(t.TempDir())
	bad := o
	bad.Temperature = 0
	if _, err := Record(ctx, src.m, src.tok, "x", bad); err == nil {
		t.Error("temperature 0 accepted")
	}
	bad = o
	bad.RNG = "dice"
	if _, err := Record(ctx, src.m, src.tok, "x", bad); err == nil {
		t.Error("unknown rng accepted")
	}
	bad = o
	bad.OutDir = ""
	if err := Run(ctx, src, "x", bad); err == nil {
		t.Error("Run without an output directory succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Record(cctx, src.m, src.tok, "x", o); err == nil {
		t.Error("cancelled context: no error")
	}
	if src.m.Tracer != nil {
		t.Error("a failed Record left its tracer on the model")
	}
}

// A fill value outside the codebook (the planned default model's BOS is its
// extra embedding row) is decoded as code 0 instead of failing.
func TestDecodeFilledOutsideCodebook(t *testing.T) {
	src := newTestSource(t)
	cb := src.m.Config.Codebook()
	row := make([]int, src.m.Config.ImageTokens)
	for i := range row {
		row[i] = (i * 37) % cb
	}
	zeroed := slices.Clone(row)
	for i := 100; i < len(row); i++ {
		row[i], zeroed[i] = cb, 0
	}
	if _, err := src.m.Image(row); err == nil {
		t.Fatal("the VQGAN accepted an out-of-codebook token; the test premise is wrong")
	}
	got, err := decodeFilled(src.m, row)
	if err != nil {
		t.Fatal(err)
	}
	want, err := src.m.Image(zeroed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, want.Pix) {
		t.Error("fill values outside the codebook were not decoded as code 0")
	}
	if row[100] != cb {
		t.Error("decodeFilled modified its input")
	}
}

// CrossCentroid finds weight placed in one corner; CrossMean averages the
// layers and heads.
func TestCrossCentroid(t *testing.T) {
	cfg := tinyConfig()
	S, T, side := cfg.ImageTokens, cfg.TextLen, cfg.GridSide()
	tr := &Trace{Config: cfg}
	for range 2 {
		tr.Cross = append(tr.Cross, model.Probs{Data: make([]float32, 2*S*T), Batch: 1, Heads: 2, QLen: S, KVLen: T})
	}
	// Token 3: all weight in the top-left cell in layer 0 head 0, and in the
	// cell right of it in layer 1 head 1.
	tr.Cross[0].Row(0, 0, 0)[3] = 1
	tr.Cross[1].Row(0, 1, 1)[3] = 1
	if g := tr.CrossMean(3); g[0] != 0.25 || g[1] != 0.25 {
		t.Errorf("CrossMean cells 0, 1 = %g, %g, want 0.25 each", g[0], g[1])
	}
	x, y := tr.CrossCentroid(3)
	if wx, wy := 1.0/float64(side), 0.5/float64(side); math.Abs(x-wx) > 1e-9 || math.Abs(y-wy) > 1e-9 {
		t.Errorf("centroid (%g, %g), want (%g, %g)", x, y, wx, wy)
	}
	// Bottom right.
	tr.Cross[0].Row(0, 1, S-1)[5] = 1
	if x, y := tr.CrossCentroid(5); x < 0.9 || y < 0.9 {
		t.Errorf("bottom-right centroid (%g, %g)", x, y)
	}
	if x, y := tr.CrossCentroid(7); x != 0.5 || y != 0.5 {
		t.Errorf("empty map centroid (%g, %g), want the centre", x, y)
	}
}

// CrossFocus ignores the even part of a map: weight spread over every cell
// plus an excess in one cell gives that cell's centre, where CrossCentroid
// stays near the middle.
func TestCrossFocus(t *testing.T) {
	cfg := tinyConfig()
	S, T, side := cfg.ImageTokens, cfg.TextLen, cfg.GridSide()
	tr := &Trace{Config: cfg}
	tr.Cross = append(tr.Cross, model.Probs{Data: make([]float32, S*T), Batch: 1, Heads: 1, QLen: S, KVLen: T})
	for s := range S {
		tr.Cross[0].Row(0, 0, s)[2] = 0.5
	}
	last := S - 1 // bottom right cell
	tr.Cross[0].Row(0, 0, last)[2] = 0.9
	x, y := tr.CrossFocus(2)
	want := (float64(side-1) + 0.5) / float64(side)
	if math.Abs(x-want) > 1e-9 || math.Abs(y-want) > 1e-9 {
		t.Errorf("focus (%g, %g), want the bottom-right cell's centre (%g, %g)", x, y, want, want)
	}
	if cx, cy := tr.CrossCentroid(2); cx > 0.6 || cy > 0.6 {
		t.Errorf("centroid (%g, %g): the test map should keep it near the middle", cx, cy)
	}
	if x, y := tr.CrossFocus(4); x != 0.5 || y != 0.5 {
		t.Errorf("flat (empty) map focus (%g, %g), want the centre", x, y)
	}
}

// Run refuses a folder that already holds files (the user's own, or an
// earlier report) and leaves them untouched.
func TestRunRefusesNonEmptyFolder(t *testing.T) {
	src := newTestSource(t)
	ctx := context.Background()
	dir := t.TempDir()
	mine := map[string]string{FileIndex: "MY OWN PAGE", FileImage: "MY OWN PICTURE"}
	for name, s := range mine {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	untouched := func(what string) {
		t.Helper()
		for name, s := range mine {
			if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != s {
				t.Errorf("%s: the user's %s was replaced", what, name)
			}
		}
	}
	err := Run(ctx, src, "a b", testOptions(dir))
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(fmt.Sprint(err), "not empty") {
		t.Errorf("Run into a non-empty folder: %v, want a \"not empty\" error wrapping fs.ErrExist", err)
	}
	untouched("Run")
	if src.exclusive != 0 {
		t.Error("Run ran the model before it refused the folder")
	}
	tr, err := Record(ctx, src.m, src.tok, "a b", testOptions(""))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Write(ctx, src.m, dir, false); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Write into a non-empty folder: %v, want fs.ErrExist", err)
	}
	untouched("Write")
	if _, err := os.Stat(filepath.Join(dir, "cross")); err == nil {
		t.Error("the refused Write created cross/")
	}
	// A file is no folder, with or without force.
	file := filepath.Join(dir, FileIndex)
	if err := tr.Write(ctx, src.m, file, true); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("Write into a file: %v", err)
	}
	// With Force the report replaces the files of its names; others stay.
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := testOptions(dir)
	o.Force = true
	if err := Run(ctx, src, "a b", o); err != nil {
		t.Fatalf("Run with Force: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, FileIndex)); !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) {
		t.Errorf("Run with Force did not write the report: %q…", b[:min(20, len(b))])
	}
	if b, _ := os.ReadFile(other); string(b) != "keep" {
		t.Errorf("Run with Force changed a file not of the report: %q", b)
	}
	// With Force, two report names that are links to one file are refused
	// before anything is written: the later would replace the earlier.
	linked, elsewhere := t.TempDir(), t.TempDir()
	shared := filepath.Join(elsewhere, "shared")
	if err := os.WriteFile(shared, []byte("PRECIOUS"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, filepath.Join(linked, FileImage)); err == nil {
		os.Symlink(shared, filepath.Join(linked, FileTokens))
		if err := tr.Write(ctx, src.m, linked, true); err == nil || !strings.Contains(err.Error(), "lead to the same file") {
			t.Errorf("Write with two links to one file: %v, want them refused", err)
		}
		if b, _ := os.ReadFile(shared); string(b) != "PRECIOUS" {
			t.Errorf("the links' file was written: %q", b[:min(20, len(b))])
		}
	}
	// A new or empty folder needs no Force.
	for _, d := range []string{filepath.Join(t.TempDir(), "new"), t.TempDir()} {
		if err := tr.Write(ctx, src.m, d, false); err != nil {
			t.Errorf("Write into %s: %v", d, err)
		}
	}
	if err := tr.Write(ctx, src.m, "", true); err == nil {
		t.Error("Write without a folder succeeded")
	}
}

// Record gives the model back the tracer it had.
func TestRecordRestoresTracer(t *testing.T) {
	src := newTestSource(t)
	mine := &recorder{t: &Trace{}}
	src.m.SetTracer(mine)
	if _, err := Record(context.Background(), src.m, src.tok, "a", testOptions("")); err != nil {
		t.Fatal(err)
	}
	if src.m.Tracer != model.Tracer(mine) {
		t.Errorf("after Record the model's tracer is %v, want the caller's", src.m.Tracer)
	}
	bad := testOptions("")
	bad.RNG = "dice"
	if _, err := Record(context.Background(), src.m, src.tok, "a", bad); err == nil || src.m.Tracer != model.Tracer(mine) {
		t.Errorf("after a failed Record (%v) the model's tracer is %v, want the caller's", err, src.m.Tracer)
	}
}

// The accessors answer out-of-range arguments without panicking: MostUsed
// clamps k, the cross-attention maps are nil, their centres the middle.
func TestAccessorsOutOfRange(t *testing.T) {
	cfg := tinyConfig()
	S, T := cfg.ImageTokens, cfg.TextLen
	tr := &Trace{Config: cfg, Tokens: []int{5, 5, 3}}
	for range 2 {
		tr.Cross = append(tr.Cross, model.Probs{Data: make([]float32, 2*S*T), Batch: 1, Heads: 2, QLen: S, KVLen: T})
	}
	if u := tr.MostUsed(-1); len(u) != 0 {
		t.Errorf("MostUsed(-1) = %v, want none", u)
	}
	if u := tr.MostUsed(1); len(u) != 1 || u[0] != (CodeUse{5, 2}) {
		t.Errorf("MostUsed(1) = %v", u)
	}
	for _, a := range [][3]int{{-1, 0, 0}, {2, 0, 0}, {99, 0, 0}, {0, 2, 0}, {0, 99, 0}, {0, 0, -1}, {0, 0, T}, {0, 0, 9999}} {
		if g := tr.CrossGrid(a[0], a[1], a[2]); g != nil {
			t.Errorf("CrossGrid%v = %d values, want nil", a, len(g))
		}
	}
	if g := tr.CrossGrid(1, -1, T-1); len(g) != S {
		t.Errorf("CrossGrid(1, -1, T−1): %d values, want %d", len(g), S)
	}
	for _, j := range []int{-1, T, 9999} {
		if g := tr.CrossMean(j); g != nil {
			t.Errorf("CrossMean(%d) = %d values, want nil", j, len(g))
		}
		if x, y := tr.CrossCentroid(j); x != 0.5 || y != 0.5 {
			t.Errorf("CrossCentroid(%d) = (%g, %g), want the centre", j, x, y)
		}
		if x, y := tr.CrossFocus(j); x != 0.5 || y != 0.5 {
			t.Errorf("CrossFocus(%d) = (%g, %g), want the centre", j, x, y)
		}
	}
	// A Cross entry whose data is shorter than its shape claims.
	short := &Trace{Config: cfg, Cross: []model.Probs{{Data: make([]float32, 10), Batch: 1, Heads: 2, QLen: S, KVLen: T}}}
	if g := short.CrossMean(0); g != nil {
		t.Errorf("CrossMean of a short Cross entry = %d values, want nil", len(g))
	}
	var none *Trace
	if none.MostUsed(3) != nil || none.CrossGrid(0, 0, 0) != nil || none.CrossMean(0) != nil {
		t.Error("a nil *Trace gave values")
	}
	if none.Files() == nil {
		t.Error("a nil *Trace has no fixed files")
	}
}

// Write rejects a trace that Record did not make (nil, zero, or cut short)
// with an error instead of panicking, and writes nothing.
func TestWriteInvalidTrace(t *testing.T) {
	src := newTestSource(t)
	ctx := context.Background()
	good, err := Record(ctx, src.m, src.tok, "ab", testOptions(""))
	if err != nil {
		t.Fatal(err)
	}
	cut := func(f func(tr *Trace)) *Trace {
		c := *good
		c.Timings = nil
		f(&c)
		return &c
	}
	for name, tr := range map[string]*Trace{
		"nil":        nil,
		"zero":       {},
		"no image":   cut(func(c *Trace) { c.Image = nil }),
		"no frames":  cut(func(c *Trace) { c.Frames = nil }),
		"nil frame":  cut(func(c *Trace) { c.Frames = []Frame{{Step: 1}} }),
		"tokens":     cut(func(c *Trace) { c.Tokens = c.Tokens[:3] }),
		"bad token":  cut(func(c *Trace) { c.Tokens = slices.Clone(c.Tokens); c.Tokens[0] = -1 }),
		"cross":      cut(func(c *Trace) { c.Cross = c.Cross[:1] }),
		"self":       cut(func(c *Trace) { c.DecoderSelf = nil }),
		"encoder":    cut(func(c *Trace) { c.Encoder = append(slices.Clone(c.Encoder), model.Probs{}) }),
		"text valid": cut(func(c *Trace) { c.TextValid = []int{0, 999} }),
		"labels":     cut(func(c *Trace) { c.TextLabels = nil }),
	} {
		dir := filepath.Join(t.TempDir(), "out")
		if err := writeNoPanic(t, tr, ctx, src.m, dir); err == nil {
			t.Errorf("%s trace: Write succeeded", name)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s trace: Write created %s", name, dir)
		}
	}
	// Only Timings missing (a Trace copied without it) is fine.
	if err := writeNoPanic(t, cut(func(*Trace) {}), ctx, src.m, t.TempDir()); err != nil {
		t.Errorf("trace without Timings: %v", err)
	}
}

func writeNoPanic(t *testing.T, tr *Trace, ctx context.Context, m *model.Model, dir string) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			err = nil
			t.Errorf("Write panicked: %v", r)
		}
	}()
	return tr.Write(ctx, m, dir, false)
}
