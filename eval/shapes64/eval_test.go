package shapes64

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/generator"
)

// fakeGen draws each prompt with draw(scene of that caption). It checks
// that Eval asks for what it promises: scale 1 and seed Seed+i.
type fakeGen struct {
	t      *testing.T
	scenes map[string]Scene
	draw   func(Scene) image.Image
	seeds  []uint64
	meta   map[string]string // result metadata
	cands  []int             // Request.Candidates seen
}

func newFake(t *testing.T, opts EvalOptions, draw func(Scene) image.Image) *fakeGen {
	opts = opts.withDefaults()
	scenes, err := Scenes(opts.Split, opts.N, opts.Seed)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGen{t: t, scenes: map[string]Scene{}, draw: draw}
	for _, sc := range scenes {
		text, _ := Caption(sc)
		f.scenes[text] = sc
	}
	return f
}

func (f *fakeGen) Name() string { return "fake" }

func (f *fakeGen) Generate(ctx context.Context, req *generator.Request) (*generator.Result, error) {
	sc, ok := f.scenes[req.Prompt]
	if !ok {
		f.t.Errorf("prompt %q is not the full caption of a drawn scene", req.Prompt)
		return nil, errors.New("unknown prompt")
	}
	if req.Scale != 1 || req.Seed == nil {
		f.t.Errorf("request scale %d seed %v, want scale 1 and a seed", req.Scale, req.Seed)
		return nil, errors.New("bad request")
	}
	f.seeds = append(f.seeds, *req.Seed)
	f.cands = append(f.cands, req.Candidates)
	return &generator.Result{Images: []generator.Image{{Image: f.draw(sc)}}, Metadata: f.meta}, nil
}

func truth(sc Scene) image.Image { return Render(sc.Background, sc.Objects) }

// The ground truth scores 100 % on every attribute of every group; the
// table has the attributes each scene type asserts.
func TestEvalGroundTruth(t *testing.T) {
	for _, split := range []string{"train", "heldout"} {
		opts := EvalOptions{Split: split, N: 40, Seed: 11}
		f := newFake(t, opts, truth)
		r, err := Eval(context.Background(), f, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range f.seeds {
			if s != opts.Seed+uint64(i) {
				t.Fatalf("prompt %d generated with seed %d, want %d", i, s, opts.Seed+uint64(i))
			}
		}
		if len(r.Items) != opts.N || r.Scores["all scenes"]["all"].Total != opts.N {
			t.Fatalf("%d items, %d counted, want %d", len(r.Items), r.Scores["all scenes"]["all"].Total, opts.N)
		}
		for _, g := range Groups {
			for attr, tally := range r.Scores[g] {
				if tally.Right != tally.Total {
					t.Errorf("%s %s/%s: %d/%d right on ground truth", split, g, attr, tally.Right, tally.Total)
				}
			}
		}
		want := map[string][]string{
			"single":   {"background", "count", "kind", "colour", "size", "position", "all"},
			"count":    {"background", "count", "kind", "colour", "size", "all"},
			"relation": {"background", "count", "kind", "colour", "size", "relation", "all"},
		}
		for g, attrs := range want {
			if r.Scores[g]["all"].Total == 0 {
				t.Errorf("%s: no %s scene in %d", split, g, opts.N)
				continue
			}
			var got []string
			for _, a := range Attributes {
				if _, ok := r.Accuracy(g, a); ok {
					got = append(got, a)
				}
			}
			if !reflect.DeepEqual(got, attrs) {
				t.Errorf("%s %s asserts %v, want %v", split, g, got, attrs)
			}
		}
	}
}

// The scorer can fail: blank images get nothing but (sometimes) the
// background right, and a generator that draws every object in the next
// palette colour fails exactly the colour (and what depends on it).
func TestEvalCanFail(t *testing.T) {
	opts := EvalOptions{N: 30, Seed: 3}
	blank := newFake(t, opts, func(sc Scene) image.Image { return Render("gray", nil) })
	r, err := Eval(context.Background(), blank, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"count", "kind", "colour", "size", "all"} {
		if acc, ok := r.Accuracy("all scenes", a); !ok || acc != 0 {
			t.Errorf("blank images: %s accuracy %v (asserted %v), want 0", a, acc, ok)
		}
	}
	bg := r.Scores["all scenes"]["background"]
	if bg.Right == 0 || bg.Right == bg.Total {
		t.Errorf("blank gray images: background %d/%d right, want some but not all", bg.Right, bg.Total)
	}

	shift := newFake(t, opts, func(sc Scene) image.Image {
		objs := append([]Object(nil), sc.Objects...)
		for k := range objs {
			for i, c := range ColourNames {
				if c == sc.Objects[k].Colour {
					objs[k].Colour = ColourNames[(i+1)%len(ColourNames)]
				}
			}
		}
		return Render(sc.Background, objs)
	})
	if r, err = Eval(context.Background(), shift, opts); err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]float64{"colour": 0, "all": 0, "kind": 1, "count": 1, "size": 1, "position": 1, "background": 1} {
		if acc, _ := r.Accuracy("all scenes", a); acc != want {
			t.Errorf("shifted colours: %s accuracy %v, want %v", a, acc, want)
		}
	}
}

func TestEvalRefusesOtherSizes(t *testing.T) {
	opts := EvalOptions{N: 2, Seed: 1}
	big := newFake(t, opts, func(sc Scene) image.Image { return image.NewRGBA(image.Rect(0, 0, 256, 256)) })
	_, err := Eval(context.Background(), big, opts)
	if err == nil || !strings.Contains(err.Error(), "256×256") || !strings.Contains(err.Error(), "64×64") {
		t.Fatalf("a 256×256 image: err %v, want one naming 256×256 and 64×64", err)
	}
	if _, err := Eval(context.Background(), big, EvalOptions{Split: "test"}); err == nil {
		t.Fatal("unknown split accepted")
	}
	if _, err := Eval(context.Background(), big, EvalOptions{N: -1}); err == nil {
		t.Fatal("negative n accepted")
	}
}

// Images that are not *image.RGBA at the origin are converted, not refused.
func TestEvalConvertsImages(t *testing.T) {
	opts := EvalOptions{N: 6, Seed: 9}
	f := newFake(t, opts, func(sc Scene) image.Image {
		src := Render(sc.Background, sc.Objects)
		dst := image.NewNRGBA(image.Rect(10, 20, 74, 84))
		for y := range 64 {
			for x := range 64 {
				dst.Set(10+x, 20+y, src.At(x, y))
			}
		}
		return dst
	})
	r, err := Eval(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if acc, _ := r.Accuracy("all scenes", "all"); acc != 1 {
		t.Fatalf("converted ground truth scores %v, want 1", acc)
	}
}

func TestScenesDeterministic(t *testing.T) {
	a, _ := Scenes("train", 20, 5)
	b, _ := Scenes("train", 20, 5)
	c, _ := Scenes("train", 20, 6)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different scenes")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same scenes")
	}
}

func TestReportOutputs(t *testing.T) {
	opts := EvalOptions{N: 12, Seed: 2, KeepImages: true}
	f := newFake(t, opts, truth)
	r, err := Eval(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	all := r.Scores["all scenes"]["all"]
	for _, want := range []string{"| kind |", "| **all** (fully right) |", "| attribute | all scenes (12) |",
		fmt.Sprintf("100.0 %% (%d/%d)", all.Right, all.Total),
		fmt.Sprintf("Fully right over all scenes: 100.0 %% (%d/%d), 95 %% confidence interval", all.Right, all.Total)} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	var ci struct {
		AllInterval95 [2]float64 `json:"all_interval_95"`
	}
	if err := json.Unmarshal(js.Bytes(), &ci); err != nil {
		t.Fatal(err)
	}
	if lo, hi := all.Interval(z95); ci.AllInterval95 != [2]float64{lo, hi} || hi != 1 {
		t.Errorf("JSON all_interval_95 = %v, want [%v, 1]", ci.AllInterval95, lo)
	}
	if !reflect.DeepEqual(back.Scores, r.Scores) || len(back.Items) != len(r.Items) || back.Items[3].Caption != r.Items[3].Caption {
		t.Fatal("JSON round trip changed the report")
	}

	sheet, err := r.ContactSheet()
	if err != nil {
		t.Fatal(err)
	}
	if w := sheet.Rect.Dx(); w != 10*sheetCellW {
		t.Fatalf("sheet is %d px wide, want %d", w, 10*sheetCellW)
	}
	// Cell 0's frame is green (fully right) and its image is the render,
	// enlarged ×2.
	fx := (sheetCellW - (64*sheetZoom + 2*sheetFrame)) / 2
	if c := sheet.RGBAAt(fx, 4); c.G < 100 || c.R > 100 {
		t.Errorf("frame of a right image is %v, want green", c)
	}
	img := r.Items[0].Image
	for _, p := range [][2]int{{0, 0}, {31, 40}, {63, 63}, {10, 50}} {
		got := sheet.RGBAAt(fx+sheetFrame+2*p[0]+1, 4+sheetFrame+2*p[1]+1)
		if got != img.RGBAAt(p[0], p[1]) {
			t.Errorf("sheet pixel of image (%d,%d) is %v, want %v", p[0], p[1], got, img.RGBAAt(p[0], p[1]))
		}
	}
	r.Items[1].Image = nil
	if _, err := r.ContactSheet(); err == nil {
		t.Error("contact sheet without images accepted")
	}
}

// Wilson intervals against values computed from the formula in Python
// (z = 1.959964).
func TestTallyInterval(t *testing.T) {
	for _, c := range []struct {
		t      Tally
		lo, hi float64
	}{
		{Tally{375, 400}, 0.909366, 0.957311},
		{Tally{10, 10}, 0.722467, 1},
		{Tally{0, 10}, 0, 0.277533},
		{Tally{1, 2}, 0.094531, 0.905469},
		{Tally{0, 0}, 0, 1},
	} {
		lo, hi := c.t.Interval(z95)
		if math.Abs(lo-c.lo) > 1e-6 || math.Abs(hi-c.hi) > 1e-6 {
			t.Errorf("%+v: interval [%.6f, %.6f], want [%.6f, %.6f]", c.t, lo, hi, c.lo, c.hi)
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap("a medium orange diamond to the right of a medium yellow hexagon on a black background", 20, 3)
	if len(got) != 3 || !strings.HasSuffix(got[2], "...") {
		t.Fatalf("wrap: %q", got)
	}
	for _, l := range got {
		if len(l) > 20 {
			t.Errorf("line %q longer than 20", l)
		}
	}
	if got := wrap("two red stars", 20, 3); !reflect.DeepEqual(got, []string{"two red stars"}) {
		t.Fatalf("wrap: %q", got)
	}
}

// The report records the best-of-K setting: the one asked for, or the
// generator's default as its metadata says, and the ranking the metadata
// names; the Markdown names both.
func TestEvalCandidates(t *testing.T) {
	for _, c := range []struct {
		ask  int
		meta string
		want int
	}{{0, "", 0}, {0, "4", 4}, {3, "3", 3}, {2, "", 2}} {
		opts := EvalOptions{N: 3, Seed: 5, Candidates: c.ask}
		f := newFake(t, opts, truth)
		if c.meta != "" {
			f.meta = map[string]string{"candidates": c.meta, "ranking": "judge"}
		}
		r, err := Eval(context.Background(), f, opts)
		if err != nil {
			t.Fatal(err)
		}
		if r.Candidates != c.want || !slices.Equal(f.cands, []int{c.ask, c.ask, c.ask}) {
			t.Errorf("%+v: report candidates %d, requests %v", c, r.Candidates, f.cands)
		}
		var md strings.Builder
		r.WriteMarkdown(&md)
		if got := strings.Contains(md.String(), fmt.Sprintf("best of %d candidates", c.want)); got != (c.want > 1) {
			t.Errorf("%+v: Markdown header %q", c, strings.SplitN(md.String(), "\n", 2)[0])
		}
		if want := map[bool]string{true: "judge"}[c.meta != ""]; r.Ranking != want ||
			strings.Contains(md.String(), "ranked by the judge") != (want != "") {
			t.Errorf("%+v: report ranking %q, want %q; Markdown header %q", c, r.Ranking, want, strings.SplitN(md.String(), "\n", 2)[0])
		}
	}
}

// SampleSeed changes the generation seeds and nothing else: the same
// prompts, in the same order, generated with SampleSeed+i; the report and
// its Markdown header say so. Without it the seeds are Seed+i.
func TestEvalSampleSeed(t *testing.T) {
	ss := uint64(1000)
	for _, c := range []struct {
		sample *uint64
		first  uint64
		header string
	}{{nil, 7, "seeds 7…10"}, {&ss, 1000, "scenes of seed 7, sampled with seeds 1000…1003"}} {
		opts := EvalOptions{N: 4, Seed: 7, SampleSeed: c.sample}
		f := newFake(t, opts, truth)
		r, err := Eval(context.Background(), f, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := []uint64{c.first, c.first + 1, c.first + 2, c.first + 3}
		if !slices.Equal(f.seeds, want) || r.SampleSeed != c.first || r.Seed != 7 {
			t.Errorf("sample seed %v: requests %v, report seed %d sample seed %d; want %v", c.sample, f.seeds, r.Seed, r.SampleSeed, want)
		}
		base, err := Eval(context.Background(), newFake(t, EvalOptions{N: 4, Seed: 7}, truth), EvalOptions{N: 4, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range r.Items {
			if it.Caption != base.Items[i].Caption || it.Seed != want[i] {
				t.Errorf("sample seed %v, prompt %d: %q seed %d, want %q seed %d", c.sample, i, it.Caption, it.Seed, base.Items[i].Caption, want[i])
			}
		}
		var md strings.Builder
		if err := r.WriteMarkdown(&md); err != nil {
			t.Fatal(err)
		}
		if h := strings.SplitN(md.String(), "\n", 2)[0]; !strings.Contains(h, c.header) {
			t.Errorf("sample seed %v: Markdown header %q lacks %q", c.sample, h, c.header)
		}
	}
}

// Score and Parse read an image from its Bounds().Min, read a k·64 × k·64
// enlargement as its 64×64 scene, and neither panics on other sizes or nil:
// those get a verdict with "image" false.
func TestScoreImageLayouts(t *testing.T) {
	scenes, err := Scenes("train", 12, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, sc := range scenes {
		small := Render(sc.Background, sc.Objects)
		_, a := Caption(sc)
		if v := Score(small, a); !v.All() {
			t.Fatalf("scene %d: ground truth %v", i, v)
		}
		wantBg, wantObjs := Parse(small)
		// Nearest-neighbour enlargements at scale 2 and 4.
		for _, k := range []int{2, 4} {
			big := image.NewRGBA(image.Rect(0, 0, 64*k, 64*k))
			for y := range 64 * k {
				for x := range 64 * k {
					big.SetRGBA(x, y, small.RGBAAt(x/k, y/k))
				}
			}
			if v := Score(big, a); !v.All() {
				t.Errorf("scene %d at scale %d: %v", i, k, v)
			}
			if bg, objs := Parse(big); bg != wantBg || !reflect.DeepEqual(objs, wantObjs) {
				t.Errorf("scene %d at scale %d: Parse %s %v, want %s %v", i, k, bg, objs, wantBg, wantObjs)
			}
		}
		// The same pixels as a SubImage at (64, 64) of a larger canvas.
		canvas := image.NewRGBA(image.Rect(0, 0, 128, 128))
		for y := range 64 {
			for x := range 64 {
				canvas.SetRGBA(64+x, 64+y, small.RGBAAt(x, y))
			}
		}
		sub := canvas.SubImage(image.Rect(64, 64, 128, 128)).(*image.RGBA)
		if v := Score(sub, a); !v.All() {
			t.Errorf("scene %d as a SubImage at (64, 64): %v", i, v)
		}
		if bg, objs := Parse(sub); bg != wantBg || !reflect.DeepEqual(objs, wantObjs) {
			t.Errorf("scene %d as a SubImage: Parse %s %v, want %s %v", i, bg, objs, wantBg, wantObjs)
		}
	}
	_, a := Caption(scenes[0])
	for _, img := range []*image.RGBA{nil, image.NewRGBA(image.Rect(0, 0, 32, 32)), image.NewRGBA(image.Rect(0, 0, 1, 1)),
		image.NewRGBA(image.Rect(0, 0, 64, 128)), image.NewRGBA(image.Rect(0, 0, 96, 96)), image.NewRGBA(image.Rect(5, 5, 5, 5))} {
		v := Score(img, a)
		if ok, found := v["image"]; !found || ok || v.All() {
			t.Errorf("unreadable image %v: verdict %v, want one with image false", img.Bounds(), v)
		}
		if bg, objs := Parse(img); bg != "" || objs != nil {
			t.Errorf("unreadable image %v: Parse %q %v, want nothing", img.Bounds(), bg, objs)
		}
	}
}

// A negative scene count is an error; a zero Scene, or a relation scene
// of one object, has an empty caption.
func TestScenesAndCaptionBadInput(t *testing.T) {
	if s, err := Scenes("train", -1, 1); err == nil {
		t.Errorf("Scenes(n=-1) = %d scenes, no error", len(s))
	}
	for _, sc := range []Scene{{}, {Type: "relation", Objects: []Object{{Kind: "circle", Colour: "red"}}}, {Type: "single", Objects: []Object{{}}}} {
		text, a := Caption(sc)
		if sc.Objects == nil && (text != "" || a.Count != 0) {
			t.Errorf("Caption(%+v) = %q, %+v; want an empty caption", sc, text, a)
		}
		if sc.Type == "relation" && (text != "" || a.Kind != "" || a.Count != 1) {
			t.Errorf("Caption(relation scene of one object) = %q, %+v; want no caption, a count of 1 and no kinds", text, a)
		}
	}
}

// A result whose one image is nil is reported as such, not as a count.
func TestEvalNilImage(t *testing.T) {
	opts := EvalOptions{N: 1, Seed: 1}
	f := newFake(t, opts, func(Scene) image.Image { return nil })
	_, err := Eval(context.Background(), f, opts)
	if err == nil || strings.Contains(err.Error(), "got 1") || !strings.Contains(err.Error(), "nil") {
		t.Errorf("nil image: %v, want an error saying the image is nil", err)
	}
	if _, err := Eval(context.Background(), nil, opts); err == nil {
		t.Error("nil generator accepted")
	}
}
