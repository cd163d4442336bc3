package shapes64

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/tessella-ml/tessella/generator"
)

// EvalOptions choose an evaluation's prompts and sampling.
type EvalOptions struct {
	// Split is "train" (seen compositions; the default) or "heldout"
	// (every scene uses a held-out kind/colour pair).
	Split string
	// N is the number of prompts (default 100).
	N int
	// Seed fixes everything: the scenes are drawn by Scenes(Split, N,
	// Seed) and prompt i is generated with seed Seed+i.
	Seed uint64
	// SampleSeed, if non-nil, replaces Seed for the sampling only: prompt
	// i is generated with seed *SampleSeed+i, the scenes stay those of
	// Seed. The same prompts drawn again with other random numbers show
	// how much of a score is the model and how much the draw.
	SampleSeed *uint64
	// Sampling overrides; nil keeps the generator's defaults.
	Temperature    *float64
	TopK           *int
	Supercondition *float64
	// Candidates, if > 0, is Request.Candidates (0 keeps the generator's
	// default).
	Candidates int
	// KeepImages keeps each generated image in Item.Image (for
	// ContactSheet).
	KeepImages bool
	// Progress, if non-nil, is called after each prompt.
	Progress func(done, total int)
}

// Item is one prompt's outcome.
type Item struct {
	Caption   string    `json:"caption"`
	Seed      uint64    `json:"seed"`
	Scene     Scene     `json:"scene"`
	Assertion Assertion `json:"assertion"`
	Verdict   Verdict   `json:"verdict"`
	// Image is the generated 64×64 image (only with KeepImages).
	Image *image.RGBA `json:"-"`
}

// Tally counts right answers.
type Tally struct {
	Right int `json:"right"`
	Total int `json:"total"`
}

// Rate is Right/Total (0 when Total is 0).
func (t Tally) Rate() float64 {
	if t.Total == 0 {
		return 0
	}
	return float64(t.Right) / float64(t.Total)
}

// Interval returns the Wilson score interval of the rate at the normal
// quantile z (1.96 for 95 %): the range of true rates this sample of
// Total prompts is consistent with,
//
//	(p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n),  p = Right/Total, n = Total,
//
// clamped to [0, 1]. It is (0, 1) when Total is 0.
func (t Tally) Interval(z float64) (lo, hi float64) {
	if t.Total == 0 {
		return 0, 1
	}
	n, p := float64(t.Total), t.Rate()
	d := 1 + z*z/n
	c := (p + z*z/(2*n)) / d
	h := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / d
	return max(c-h, 0), min(c+h, 1)
}

// z95 is the standard normal quantile of a two-sided 95 % interval.
const z95 = 1.959963984540054

// Attributes are the report's rows: each attribute a caption can assert,
// then "all" (every asserted attribute right).
var Attributes = []string{"background", "count", "kind", "colour", "size", "position", "relation", "all"}

// Groups are the report's columns: every scene, then each scene type.
var Groups = []string{"all scenes", "single", "count", "relation"}

// Report is an evaluation's outcome. Scores[group][attribute] counts, over
// the group's prompts that assert the attribute, those whose image shows
// it; Items lists every prompt.
type Report struct {
	Model string `json:"model"`
	Split string `json:"split"`
	N     int    `json:"n"`
	Seed  uint64 `json:"seed"` // of the scenes
	// SampleSeed is the sampling's: prompt i was generated with seed
	// SampleSeed+i (EvalOptions.SampleSeed, else Seed).
	SampleSeed uint64 `json:"sample_seed"`
	// Candidates is the best-of-K setting used: EvalOptions.Candidates,
	// or the generator's default as its results' metadata reports it (0:
	// not reported, i.e. one image per prompt).
	Candidates int `json:"candidates,omitempty"`
	// Ranking is how the generator picked among the candidates, as its
	// results' metadata reports it ("judge" or "self"; empty with one).
	Ranking string                      `json:"ranking,omitempty"`
	Scores  map[string]map[string]Tally `json:"scores"`
	Items   []Item                      `json:"items"`
}

// Accuracy returns Scores[group][attr].Rate() and whether any prompt of
// the group asserted attr.
func (r *Report) Accuracy(group, attr string) (float64, bool) {
	t, ok := r.Scores[group][attr]
	return t.Rate(), ok && t.Total > 0
}

// withDefaults fills in the default split and prompt count.
func (o EvalOptions) withDefaults() EvalOptions {
	if o.Split == "" {
		o.Split = "train"
	}
	if o.N == 0 {
		o.N = 100
	}
	return o
}

// sceneStream is the PCG stream of evaluation scenes ("SHAPES64").
const sceneStream = 0x5348415045533634

// Scenes draws n scenes of a split, deterministically from seed (PCG); a
// negative n is an error.
func Scenes(split string, n int, seed uint64) ([]Scene, error) {
	if n < 0 {
		return nil, fmt.Errorf("shapes64 scenes: n %d must not be negative", n)
	}
	r := rand.New(rand.NewPCG(seed, sceneStream))
	out := make([]Scene, n)
	for i := range out {
		sc, err := SampleScene(r, split)
		if err != nil {
			return nil, err
		}
		out[i] = sc
	}
	return out, nil
}

// Eval generates one image per prompt with gen and scores it: the prompts
// are the full captions (every attribute, no dropout) of Scenes(Split, N,
// Seed), prompt i is generated with seed Seed+i (SampleSeed+i when set) at
// scale 1, and every image must be 64×64.
func Eval(ctx context.Context, gen generator.Generator, opts EvalOptions) (*Report, error) {
	if gen == nil {
		return nil, errors.New("shapes64 eval: nil generator")
	}
	opts = opts.withDefaults()
	if opts.N < 0 {
		return nil, fmt.Errorf("shapes64 eval: n %d must be positive", opts.N)
	}
	scenes, err := Scenes(opts.Split, opts.N, opts.Seed)
	if err != nil {
		return nil, err
	}
	r := &Report{Model: gen.Name(), Split: opts.Split, N: opts.N, Seed: opts.Seed, SampleSeed: opts.Seed,
		Candidates: opts.Candidates, Scores: map[string]map[string]Tally{}}
	if opts.SampleSeed != nil {
		r.SampleSeed = *opts.SampleSeed
	}
	for _, g := range Groups {
		r.Scores[g] = map[string]Tally{}
	}
	for i, sc := range scenes {
		text, a := Caption(sc)
		seed := r.SampleSeed + uint64(i)
		res, err := gen.Generate(ctx, &generator.Request{Prompt: text, Seed: &seed, Scale: 1,
			Temperature: opts.Temperature, TopK: opts.TopK, Supercondition: opts.Supercondition, Candidates: opts.Candidates})
		if err != nil {
			return nil, fmt.Errorf("shapes64 eval: prompt %d %q: %w", i, text, err)
		}
		if c, err := strconv.Atoi(res.Metadata["candidates"]); err == nil && r.Candidates == 0 {
			r.Candidates = c // the generator's default, as it reports it
		}
		if rk := res.Metadata["ranking"]; rk != "" && r.Ranking == "" {
			r.Ranking = rk
		}
		img, err := resultImage(res)
		if err != nil {
			return nil, fmt.Errorf("shapes64 eval: %s, prompt %d %q: %w", gen.Name(), i, text, err)
		}
		v := Score(img, a)
		it := Item{Caption: text, Seed: seed, Scene: sc, Assertion: a, Verdict: v}
		if opts.KeepImages {
			it.Image = img
		}
		r.Items = append(r.Items, it)
		r.add(sc.Type, v)
		if opts.Progress != nil {
			opts.Progress(i+1, opts.N)
		}
	}
	return r, nil
}

// add counts one verdict in its scene type's column and in "all scenes".
func (r *Report) add(sceneType string, v Verdict) {
	for _, g := range []string{Groups[0], sceneType} {
		m := r.Scores[g]
		if m == nil {
			m = map[string]Tally{}
			r.Scores[g] = m
		}
		for attr, ok := range v {
			m[attr] = m[attr].add(ok)
		}
		m["all"] = m["all"].add(v.All())
	}
}

func (t Tally) add(ok bool) Tally {
	t.Total++
	if ok {
		t.Right++
	}
	return t
}

// resultImage takes the one 64×64 image of a result as RGBA.
func resultImage(res *generator.Result) (*image.RGBA, error) {
	if len(res.Images) != 1 {
		return nil, fmt.Errorf("want one decoded image, got %d", len(res.Images))
	}
	if res.Images[0].Image == nil {
		return nil, fmt.Errorf("the result's one image has no decoded pixels (Image is nil; format %q, %d encoded bytes are not read)", res.Images[0].Format, len(res.Images[0].Encoded))
	}
	src := res.Images[0].Image
	b := src.Bounds()
	if b.Dx() != 64 || b.Dy() != 64 {
		return nil, fmt.Errorf("the image is %d×%d; the scorer reads 64×64 images (a 64×64 model at scale 1)", b.Dx(), b.Dy())
	}
	if rgba, ok := src.(*image.RGBA); ok && b.Min == (image.Point{}) {
		return rgba, nil
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	draw.Draw(img, img.Rect, src, b.Min, draw.Src)
	return img, nil
}

// WriteMarkdown writes the table: one row per attribute, one column per
// group, each cell "percent (right/total)", "–" where nothing was asserted.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	last := uint64(max(r.N, 1)) - 1
	if r.SampleSeed == r.Seed {
		fmt.Fprintf(&b, "shapes64 eval: model %s, split %s, %d prompts, seeds %d…%d", r.Model, r.Split, r.N, r.Seed, r.Seed+last)
	} else {
		fmt.Fprintf(&b, "shapes64 eval: model %s, split %s, %d prompts, scenes of seed %d, sampled with seeds %d…%d",
			r.Model, r.Split, r.N, r.Seed, r.SampleSeed, r.SampleSeed+last)
	}
	if r.Candidates > 1 {
		fmt.Fprintf(&b, ", best of %d candidates", r.Candidates)
		if r.Ranking != "" {
			fmt.Fprintf(&b, " (ranked by %s)", map[string]string{"judge": "the judge", "self": "the model's token probabilities"}[r.Ranking])
		}
	}
	b.WriteString("\n\n")
	b.WriteString("| attribute |")
	for _, g := range Groups {
		n := r.Scores[g]["all"].Total
		fmt.Fprintf(&b, " %s (%d) |", g, n)
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---:|", len(Groups)))
	b.WriteString("\n")
	for _, a := range Attributes {
		name := a
		if a == "all" {
			name = "**all** (fully right)"
		}
		fmt.Fprintf(&b, "| %s |", name)
		for _, g := range Groups {
			t := r.Scores[g][a]
			if t.Total == 0 {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&b, " %.1f %% (%d/%d) |", 100*t.Rate(), t.Right, t.Total)
		}
		b.WriteString("\n")
	}
	if all := r.Scores[Groups[0]]["all"]; all.Total > 0 {
		lo, hi := all.Interval(z95)
		fmt.Fprintf(&b, "\nFully right over all scenes: %.1f %% (%d/%d), 95 %% confidence interval %.1f–%.1f %%"+
			" (Wilson; the sampling error of %d prompts).\n", 100*all.Rate(), all.Right, all.Total, 100*lo, 100*hi, all.Total)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report (without images) as indented JSON, with
// "all_interval_95": the 95 % Wilson interval (Tally.Interval) of the
// fully-right rate over all scenes, how precisely N prompts measure it.
func (r *Report) WriteJSON(w io.Writer) error {
	var out struct {
		*Report
		AllInterval95 [2]float64 `json:"all_interval_95"`
	}
	out.Report = r
	out.AllInterval95[0], out.AllInterval95[1] = r.Scores[Groups[0]]["all"].Interval(z95)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}

// Contact-sheet layout: each cell is the image enlarged ×sheetZoom in a
// frame (green: fully right, red: not), then the caption wrapped in
// basicfont's 7×13 glyphs, then the attributes that failed.
const (
	sheetZoom  = 2
	sheetFrame = 3
	sheetCellW = 200
	sheetLines = 6 // ≤ 4 caption lines + ≤ 2 lines of failures
	sheetLineH = 13
	sheetCharW = 7
	sheetCols  = 10
)

// ContactSheet draws the kept images (EvalOptions.KeepImages) in a grid
// with their captions and verdicts.
func (r *Report) ContactSheet() (*image.RGBA, error) {
	if len(r.Items) == 0 {
		return nil, errors.New("shapes64 contact sheet: no prompts")
	}
	for i, it := range r.Items {
		if it.Image == nil {
			return nil, fmt.Errorf("shapes64 contact sheet: prompt %d has no image (evaluate with KeepImages)", i)
		}
	}
	imgSide := 64*sheetZoom + 2*sheetFrame
	cellH := 4 + imgSide + 4 + sheetLines*sheetLineH + 6
	cols := min(sheetCols, len(r.Items))
	rows := (len(r.Items) + cols - 1) / cols
	sheet := image.NewRGBA(image.Rect(0, 0, cols*sheetCellW, rows*cellH))
	draw.Draw(sheet, sheet.Rect, image.NewUniform(color.RGBA{255, 255, 255, 255}), image.Point{}, draw.Src)
	face := basicfont.Face7x13
	green, red := color.RGBA{30, 160, 60, 255}, color.RGBA{210, 30, 30, 255}
	for i, it := range r.Items {
		x0, y0 := (i%cols)*sheetCellW, (i/cols)*cellH
		fx := x0 + (sheetCellW-imgSide)/2
		frame := image.Rect(fx, y0+4, fx+imgSide, y0+4+imgSide)
		fc := red
		if it.Verdict.All() {
			fc = green
		}
		draw.Draw(sheet, frame, image.NewUniform(fc), image.Point{}, draw.Src)
		for y := range 64 * sheetZoom {
			for x := range 64 * sheetZoom {
				sheet.SetRGBA(fx+sheetFrame+x, y0+4+sheetFrame+y, it.Image.RGBAAt(x/sheetZoom, y/sheetZoom))
			}
		}
		width := (sheetCellW - 6) / sheetCharW
		lines := wrap(it.Caption, width, 4)
		var failed []string
		for _, a := range Attributes[:len(Attributes)-1] {
			if ok, asserted := it.Verdict[a]; asserted && !ok {
				failed = append(failed, a)
			}
		}
		d := &font.Drawer{Dst: sheet, Src: image.NewUniform(color.RGBA{0, 0, 0, 255}), Face: face}
		y := y0 + 4 + imgSide + 4
		for _, l := range lines {
			y += sheetLineH
			d.Dot = fixed.P(x0+3, y-2)
			d.DrawString(l)
		}
		if len(failed) > 0 {
			d.Src = image.NewUniform(red)
			for _, l := range wrap("wrong: "+strings.Join(failed, " "), width, sheetLines-len(lines)) {
				y += sheetLineH
				d.Dot = fixed.P(x0+3, y-2)
				d.DrawString(l)
			}
		}
	}
	return sheet, nil
}

// wrap breaks text at spaces into at most maxLines lines of at most width
// characters (the last line is truncated with "...").
func wrap(text string, width, maxLines int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(text) {
		switch {
		case cur == "":
			cur = w
		case len(cur)+1+len(w) <= width:
			cur += " " + w
		default:
			lines = append(lines, cur)
			cur = w
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	if len(lines) > maxLines {
		lines = lines[:maxLines]
		lines[maxLines-1] = truncate(lines[maxLines-1]+" ...", width)
	}
	for i, l := range lines {
		lines[i] = truncate(l, width)
	}
	return lines
}

func truncate(s string, width int) string {
	if len(s) <= width {
		return s
	}
	return s[:max(0, width-3)] + "..."
}
