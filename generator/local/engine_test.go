package local

import (
	"context"
	"errors"
	"image"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/model"
	"github.com/tessella-ml/tessella/tokenizer"
	"github.com/tessella-ml/tessella/weights"
)

// testdata/engine holds a tiny complete model written by
// training/make_engine_testdata.py as .pt files (min-dalle's layout) and as
// .safetensors, with PyTorch's end-to-end outputs under torch.manual_seed.
var engineData = filepath.Join("..", "..", "testdata", "engine")

type golden struct {
	f *weights.File
}

func openGolden(t *testing.T) golden {
	t.Helper()
	f, err := weights.Open(filepath.Join(engineData, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return golden{f}
}

// ints returns an int64 tensor as rows of ints.
func (g golden) ints(t *testing.T, name string) [][]int {
	t.Helper()
	ten, ok := g.f.Tensor(name)
	if !ok {
		t.Fatalf("golden lacks %s", name)
	}
	vals, err := ten.Ints()
	if err != nil {
		t.Fatal(err)
	}
	cols := ten.Shape[len(ten.Shape)-1]
	var rows [][]int
	for i := 0; i < len(vals); i += cols {
		rows = append(rows, vals[i:i+cols])
	}
	return rows
}

func (g golden) meta(t *testing.T, key string) float64 {
	v, err := strconv.ParseFloat(g.f.Metadata()[key], 64)
	if err != nil {
		t.Fatalf("golden metadata %s: %v", key, err)
	}
	return v
}

// pixelsDiffer counts the bytes of img that differ from the golden uint8
// (H, W, 3) image, and the largest difference.
func pixelsDiffer(t *testing.T, g golden, name string, img image.Image) (n, worst int) {
	t.Helper()
	ten, _ := g.f.Tensor(name)
	want := ten.Bytes()
	rgba := img.(*image.RGBA)
	h, w := ten.Shape[0], ten.Shape[1]
	if rgba.Rect.Dx() != w || rgba.Rect.Dy() != h {
		t.Fatalf("%s: image is %v, want %d×%d", name, rgba.Rect, w, h)
	}
	for y := range h {
		for x := range w {
			for c := range 3 {
				d := int(rgba.Pix[y*rgba.Stride+4*x+c]) - int(want[(y*w+x)*3+c])
				if d != 0 {
					n++
					worst = max(worst, d, -d)
				}
			}
		}
	}
	return n, worst
}

// The engine reproduces PyTorch end to end under --rng torch: the same
// tokens, and the same uint8 pixels but for float rounding at the
// truncation edge (at most a few values off by one), for one image and
// for a 2×2 grid, from .pt files and from .safetensors alike.
func TestEngineMatchesPyTorch(t *testing.T) {
	g := openGolden(t)
	prompt := g.f.Metadata()["prompt"]
	temp, topK, f := g.meta(t, "temperature"), int(g.meta(t, "top_k")), g.meta(t, "supercondition")
	for _, layout := range []string{filepath.Join(engineData, "pt"), filepath.Join(engineData, "safetensors")} {
		eng, err := Open(Options{Model: layout})
		if err != nil {
			t.Fatalf("%s: %v", layout, err)
		}
		defer eng.Close()
		for _, c := range []struct {
			name string
			grid int
		}{{"single", 1}, {"grid", 2}} {
			seed := uint64(g.meta(t, c.name+".seed"))
			res, err := eng.Generate(context.Background(), &generator.Request{Prompt: prompt, Seed: &seed,
				Temperature: &temp, TopK: &topK, Supercondition: &f, Grid: c.grid, RNG: "torch"})
			if err != nil {
				t.Fatalf("%s %s: %v", layout, c.name, err)
			}
			want := g.ints(t, c.name+".tokens")
			if !slices.EqualFunc(res.Tokens, want, slices.Equal) {
				t.Errorf("%s %s: tokens differ from PyTorch\n got %v\nwant %v", layout, c.name, res.Tokens[0][:16], want[0][:16])
			}
			n, worst := pixelsDiffer(t, g, c.name+".image", res.Images[0].Image)
			if worst > 1 || n > 8 {
				t.Errorf("%s %s: %d pixel values differ from PyTorch, worst by %d (allowed: ≤ 8 off by one)", layout, c.name, n, worst)
			}
		}
	}
}

// The .pt and .safetensors copies of the same weights give identical images.
func TestPTAndSafetensorsIdentical(t *testing.T) {
	var imgs [2]*image.RGBA
	seed := uint64(3)
	for i, layout := range []string{"pt", "safetensors"} {
		eng, err := Open(Options{Model: filepath.Join(engineData, layout)})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		res, err := eng.Generate(context.Background(), &generator.Request{Prompt: "two blue rings", Seed: &seed})
		if err != nil {
			t.Fatal(err)
		}
		imgs[i] = res.Images[0].Image.(*image.RGBA)
	}
	if !slices.Equal(imgs[0].Pix, imgs[1].Pix) {
		t.Fatal(".pt and .safetensors weights give different images")
	}
}

func TestGenerateDeterministicAndDecodeRoundTrip(t *testing.T) {
	eng, err := Open(Options{Model: "tiny-random"})
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(42)
	req := &generator.Request{Prompt: "a red star", Seed: &seed}
	var steps int
	req.Progress = func(p generator.Progress) {
		if p.Stage == "decode" {
			steps = p.Done
		}
	}
	a, err := eng.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if steps != 256 {
		t.Errorf("progress reached %d of 256 steps", steps)
	}
	b, err := eng.Generate(context.Background(), &generator.Request{Prompt: "a red star", Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Tokens[0], b.Tokens[0]) {
		t.Fatal("same seed, different tokens")
	}
	if a.Metadata["seed"] != "42" || a.Metadata["prompt"] != "a red star" {
		t.Errorf("metadata %v", a.Metadata)
	}
	img, err := eng.Decode(context.Background(), a.Tokens, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img.(*image.RGBA).Pix, a.Images[0].Image.(*image.RGBA).Pix) {
		t.Fatal("decoding the tokens again gives another image")
	}
	if w, h := eng.NativeSize(); img.Bounds().Dx() != w || img.Bounds().Dy() != h || w != 64*4 {
		t.Errorf("default scale 4: image %v, native %d×%d", img.Bounds(), w, h)
	}
}

func TestGenerateRefusesBadRequests(t *testing.T) {
	eng, err := Open(Options{Model: "tiny-random"})
	if err != nil {
		t.Fatal(err)
	}
	neg, huge := -1.0, 5000
	for name, req := range map[string]*generator.Request{
		"temperature":       {Prompt: "x", Temperature: &neg},
		"top-k":             {Prompt: "x", TopK: &huge},
		"rng":               {Prompt: "x", RNG: "mt"},
		"api model":         {Prompt: "x", APIModel: "gpt-image-1.5"},
		"size":              {Prompt: "x", Size: "1024x1024"},
		"grid and n":        {Prompt: "x", Grid: 2, N: 2},
		"candidates":        {Prompt: "x", Candidates: MaxCandidates + 1},
		"candidates<":       {Prompt: "x", Candidates: -1},
		"grid × candidates": {Prompt: "x", Grid: 3, Candidates: 8},
	} {
		if _, err := eng.Generate(context.Background(), req); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Out of range before any memory is allocated for it; the error names
	// the request's field.
	for _, c := range []struct {
		req   *generator.Request
		param string
	}{
		{&generator.Request{Prompt: "x", N: MaxGrid*MaxGrid + 1}, "n"},
		{&generator.Request{Prompt: "x", N: 1 << 40}, "n"},
		{&generator.Request{Prompt: "x", N: 1<<62 + 1, Candidates: 4}, "n"}, // n·k would wrap to 4
		{&generator.Request{Prompt: "x", Threads: -7}, "threads"},
		{&generator.Request{Prompt: "x", Threads: 3}, "threads"}, // opened with 0 (all cores)
		{&generator.Request{Prompt: "x", PreviewEvery: -1}, "preview_every"},
		{&generator.Request{Prompt: "x", Previews: -2}, "previews"},
	} {
		_, err := eng.Generate(context.Background(), c.req)
		var re *generator.RequestError
		if !errors.As(err, &re) || re.Param != c.param {
			t.Errorf("%+v: error %v, want a RequestError for %q", *c.req, err, c.param)
		}
	}
	if _, err := eng.Generate(context.Background(), nil); err == nil {
		t.Error("nil request accepted")
	}
	// Values that overflow or underflow float32 are refused, and the error
	// names the field that was wrong (the server reports it as "param").
	big, tiny, five := 1e308, 1e-300, 5
	for _, c := range []struct {
		req   *generator.Request
		param string
	}{
		{&generator.Request{Prompt: "x", Temperature: &big}, "temperature"},
		{&generator.Request{Prompt: "x", Temperature: &big, TopK: &five}, "temperature"},
		{&generator.Request{Prompt: "x", Temperature: &tiny}, "temperature"},
		{&generator.Request{Prompt: "x", Supercondition: &big, TopK: &five}, "supercondition"},
		{&generator.Request{Prompt: "x", TopK: &huge, Temperature: &neg}, "temperature"},
		{&generator.Request{Prompt: "x", TopK: &huge}, "top_k"},
	} {
		_, err := eng.Generate(context.Background(), c.req)
		var inv *generator.RequestError
		if !errors.As(err, &inv) || inv.Param != c.param {
			t.Errorf("%+v: %v, want an invalid %q", c.req, err, c.param)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := eng.Generate(ctx, &generator.Request{Prompt: "x"}); err == nil {
		t.Error("cancelled context: no error")
	}
	if _, err := eng.Decode(ctx, [][]int{make([]int, 256)}, false, 1); err == nil {
		t.Error("decode with a cancelled context: no error")
	}
	for _, scale := range []int{-1, MaxScale + 1} {
		if _, err := eng.Decode(context.Background(), [][]int{make([]int, 256)}, false, scale); err == nil {
			t.Errorf("decode scale %d accepted", scale)
		}
		if _, err := eng.Generate(context.Background(), &generator.Request{Prompt: "x", Scale: scale}); err == nil {
			t.Errorf("generate scale %d accepted", scale)
		}
	}
	for _, th := range []int{-2, MaxThreads + 1} {
		if _, err := Open(Options{Model: "tiny-random", Threads: th}); err == nil {
			t.Errorf("threads %d accepted", th)
		}
		if _, err := OpenDefaultBytes("x", nil, Options{Threads: th}); err == nil || !strings.Contains(err.Error(), "threads") {
			t.Errorf("OpenDefaultBytes, threads %d: %v, want a threads error", th, err)
		}
	}
	for name, toks := range map[string][][]int{
		"empty":        nil,
		"not square":   {make([]int, 256), make([]int, 256)},
		"short row":    {make([]int, 10)},
		"out of range": {slices.Repeat([]int{5000}, 256)},
		"too many":     slices.Repeat([][]int{make([]int, 256)}, 81),
	} {
		if _, err := eng.Decode(context.Background(), toks, false, 1); err == nil || !strings.Contains(err.Error(), "decode") {
			t.Errorf("decode %s: %v", name, err)
		}
	}
}

// TestGenerateCandidates: with Candidates k each returned image is, of
// the k the model sampled for it (rows o·k … o·k+k−1 of one batch), the
// one with the largest model.CandidateScore; k = 1 is plain generation;
// grids pick per cell.
func TestGenerateCandidates(t *testing.T) {
	eng, err := Open(Options{Model: "tiny-random", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	cfg := eng.model.Config
	const prompt, seed = "a red star above a blue ring", 21
	uncond, cond := tokenizer.TextRows(eng.tok.Tokenize(prompt), cfg.TextLen)
	opts := model.SampleOptions{Temperature: float32(eng.defaults.Temperature), TopK: eng.defaults.TopK,
		Supercondition: float32(eng.defaults.Supercondition)}
	for _, c := range []struct{ n, grid, k int }{{1, 0, 1}, {1, 0, 3}, {2, 0, 2}, {0, 2, 2}} {
		s := uint64(seed)
		res, err := eng.Generate(ctx, &generator.Request{Prompt: prompt, Seed: &s, N: c.n, Grid: c.grid, Candidates: c.k, Scale: 1})
		if err != nil {
			t.Fatal(err)
		}
		images := max(c.n, c.grid*c.grid)
		rows, lp, err := eng.model.GenerateTokensScored(ctx, [][]int{uncond, cond}, images*c.k, opts, model.NewGoRNG(seed), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Tokens) != images {
			t.Fatalf("%+v: %d token rows, want %d", c, len(res.Tokens), images)
		}
		for o := range images {
			best := o * c.k
			for r := best + 1; r < (o+1)*c.k; r++ {
				if model.CandidateScore(lp[r]) > model.CandidateScore(lp[best]) {
					best = r
				}
			}
			if !slices.Equal(res.Tokens[o], rows[best]) {
				t.Errorf("%+v image %d: not candidate %d (the most likely of %d)", c, o, best-o*c.k, c.k)
			}
		}
		if got, want := res.Metadata["candidates"], map[bool]string{true: strconv.Itoa(c.k)}[c.k > 1]; got != want {
			t.Errorf("%+v: metadata candidates %q, want %q", c, got, want)
		}
	}
}

func TestPickCandidates(t *testing.T) {
	nan := math.NaN()
	scores := []float64{-3, -1, -1, nan, -9, nan}
	got := pickCandidates(scores, 2, 3)
	// Image 0: rows 0..2, -1 first at row 1 (ties keep the first); image
	// 1: rows 3..5, the number beats NaN.
	if got[0] != 1 || got[1] != 4 {
		t.Errorf("picked rows %v, want [1 4]", got)
	}
	if got := pickCandidates(scores[3:5], 1, 2); got[0] != 1 {
		t.Errorf("NaN first, then a number: picked %v", got)
	}
}

// candidateScores samples n·k candidates for prompt as Generate does (seed
// seed, the model's sampling defaults) and scores each: its judge score
// against the prompt and its critic score (0 without a critic).
func candidateScores(t *testing.T, eng *Engine, prompt string, seed uint64, k, n int) (rows [][]int, lp []model.TokenLogProbs, judged, criticised []float64) {
	t.Helper()
	uncond, cond := tokenizer.TextRows(eng.tok.Tokenize(prompt), eng.model.Config.TextLen)
	opts := model.SampleOptions{Temperature: float32(eng.defaults.Temperature), TopK: eng.defaults.TopK,
		Supercondition: float32(eng.defaults.Supercondition)}
	rows, lp, err := eng.model.GenerateTokensScored(context.Background(), [][]int{uncond, cond}, n*k, opts, model.NewGoRNG(seed), nil)
	if err != nil {
		t.Fatal(err)
	}
	judged = make([]float64, len(rows))
	criticised = make([]float64, len(rows))
	for r, row := range rows {
		img, err := eng.model.Image(row)
		if err != nil {
			t.Fatal(err)
		}
		mem, err := eng.judge.ImageMemory(img)
		if err != nil {
			t.Fatal(err)
		}
		if judged[r], err = eng.judge.Score(cond, mem); err != nil {
			t.Fatal(err)
		}
		if eng.critic != nil {
			if criticised[r], err = eng.critic.Score(img); err != nil {
				t.Fatal(err)
			}
		}
	}
	return rows, lp, judged, criticised
}

// argmaxOf returns the row among o·k … o·k+k−1 with the largest score
// (the first on ties).
func argmaxOf(o, k int, score func(r int) float64) int {
	best := o * k
	for r := best + 1; r < (o+1)*k; r++ {
		if score(r) > score(best) {
			best = r
		}
	}
	return best
}

// TestCriticRanking: the embedded model's critic changes some picks, and
// where it does the engine returns the candidate whose score includes
// judge.critic_weight × the critic's score. Seeds are tried in order
// until one has a pick the critic changes (count scenes, where objects
// cut by the border are common); none within 24 fails.
func TestCriticRanking(t *testing.T) {
	if !DefaultModelEmbedded() {
		t.Skip("no trained default model embedded")
	}
	eng, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if eng.critic == nil || eng.judgeCritic == 0 {
		t.Fatal("the embedded default model carries no critic with a weight")
	}
	const prompt, k = "four small red crosses on a gray background", 6
	for seed := uint64(1); seed <= 24; seed++ {
		rows, lp, judged, criticised := candidateScores(t, eng, prompt, seed, k, 1)
		without := func(r int) float64 { return judged[r] + eng.judgeSelf*model.CandidateScore(lp[r]) }
		with := func(r int) float64 { return without(r) + eng.judgeCritic*criticised[r] }
		best := argmaxOf(0, k, with)
		if best == argmaxOf(0, k, without) {
			continue
		}
		s := seed
		res, err := eng.Generate(context.Background(), &generator.Request{Prompt: prompt, Seed: &s, Candidates: k, Scale: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Tokens[0], rows[best]) {
			t.Errorf("seed %d: not candidate %d, the first with the critic's score (critic scores %v)", seed, best, criticised)
		}
		t.Logf("seed %d: the critic moves the pick to candidate %d (critic scores %v)", seed, best, criticised)
		return
	}
	t.Error("in 24 seeds the critic never changed a pick")
}

// TestJudgeRanking: with the embedded default model (its file carries a
// judge) each returned image is the candidate the judge scores highest
// against the prompt (plus judge.self_weight times the self-score),
// computed here from the candidates' images; the
// returned pixels are that candidate's. Options.NoJudge and the empty
// prompt rank by model.CandidateScore instead.
func TestJudgeRanking(t *testing.T) {
	if !DefaultModelEmbedded() {
		t.Skip("no trained default model embedded")
	}
	eng, err := Open(Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if eng.judge == nil {
		t.Fatal("the embedded default model carries no judge")
	}
	ctx := context.Background()
	const prompt, seed, k = "two small green stars on black", 5, 4
	rows, lp, judged, criticised := candidateScores(t, eng, prompt, seed, k, 2)
	argmax := func(o int, score func(r int) float64) int { return argmaxOf(o, k, score) }
	bySelf := func(r int) float64 { return model.CandidateScore(lp[r]) }
	byJudge := func(r int) float64 { return judged[r] + eng.judgeSelf*bySelf(r) + eng.judgeCritic*criticised[r] }
	s := uint64(seed)
	res, err := eng.Generate(ctx, &generator.Request{Prompt: prompt, Seed: &s, N: 2, Candidates: k, Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Metadata["ranking"] != "judge" {
		t.Errorf("metadata ranking %q, want judge", res.Metadata["ranking"])
	}
	differ := false
	for o := range 2 {
		best := argmax(o, byJudge)
		differ = differ || best != argmax(o, bySelf)
		if !slices.Equal(res.Tokens[o], rows[best]) {
			t.Errorf("image %d: not candidate %d, the judge's first (scores %v)", o, best-o*k, judged[o*k:(o+1)*k])
		}
		want, err := eng.model.Image(rows[best])
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Images[o].Image.(*image.RGBA); !slices.Equal(got.Pix, want.Pix) {
			t.Errorf("image %d: its pixels are not its tokens' image", o)
		}
	}
	t.Logf("judge scores %v; the judge and the self-score pick differently: %v", judged, differ)

	// A 2×2 grid of judged picks (the cells' images are reused) is the
	// grid Decode draws from the picked tokens.
	res, err = eng.Generate(ctx, &generator.Request{Prompt: prompt, Seed: &s, Grid: 2, Candidates: 2, Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	want, err := eng.Decode(ctx, res.Tokens, false, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Images[0].Image.(*image.RGBA); res.Metadata["ranking"] != "judge" || !slices.Equal(got.Pix, want.(*image.RGBA).Pix) {
		t.Errorf("grid of judged picks: ranking %q, pixels equal to Decode of its tokens: %v", res.Metadata["ranking"], slices.Equal(got.Pix, want.(*image.RGBA).Pix))
	}

	noJudge, err := Open(Options{Threads: 1, NoJudge: true})
	if err != nil {
		t.Fatal(err)
	}
	defer noJudge.Close()
	res, err = noJudge.Generate(ctx, &generator.Request{Prompt: prompt, Seed: &s, N: 2, Candidates: k, Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	for o := range 2 {
		if best := argmax(o, bySelf); !slices.Equal(res.Tokens[o], rows[best]) || res.Metadata["ranking"] != "self" {
			t.Errorf("NoJudge image %d: not candidate %d, the self-score's first (ranking %q)", o, best-o*k, res.Metadata["ranking"])
		}
	}
	res, err = eng.Generate(ctx, &generator.Request{Prompt: "", Seed: &s, Candidates: 2, Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Metadata["ranking"] != "self" {
		t.Errorf("empty prompt: ranking %q, want self", res.Metadata["ranking"])
	}
}
