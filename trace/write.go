package trace

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/internal/atomicfile"
	"github.com/tessella-ml/tessella/model"
)

// File names of the report, relative to its directory.
const (
	FileIndex       = "index.html"
	FileImage       = "image.png"
	FileGIF         = "progressive.gif"
	FileTokens      = "tokens.png"
	FileCodes       = "codes.png"
	FileEncoder     = "encoder_attention.png"
	FileDecoderSelf = "decoder_self_attention.png"
	FileProbs       = "steps_probs.png"
	FileEntropy     = "steps_entropy.png"
	FileRank        = "steps_rank.png"
	FileJSON        = "trace.json"
)

// Files lists every file Write creates, relative to the report directory.
// A nil Trace lists the fixed files only.
func (t *Trace) Files() []string {
	files := []string{FileIndex, FileImage, FileGIF, FileTokens, FileCodes, FileEncoder, FileDecoderSelf,
		FileProbs, FileEntropy, FileRank, FileJSON}
	if t == nil {
		return files
	}
	for _, j := range t.TextValid {
		files = append(files, crossSummaryFile(j), crossTokenFile(j))
	}
	return files
}

func crossSummaryFile(j int) string { return fmt.Sprintf("cross/summary_%02d.png", j) }
func crossTokenFile(j int) string   { return fmt.Sprintf("cross/token_%02d.png", j) }

// Sizes of the pictures, in pixels.
const (
	crossCell   = 96  // one heat map in a per-token mosaic
	summaryCell = 160 // one token's heat map averaged over layers and heads
	matrixCell  = 128 // target size of one attention matrix in a mosaic
	topCodes    = 16  // codes shown in codes.png
	codeTile    = 4   // a code is shown decoded as a codeTile×codeTile map of itself
)

// CodeUse is one codebook entry and how often the image uses it.
type CodeUse struct {
	Code, Count int
}

// MostUsed returns the codes of t.Tokens by decreasing count (ties: lower
// code first), at most k: k is clamped to [0, number of distinct codes], so
// k ≤ 0 (or a nil Trace) gives none.
func (t *Trace) MostUsed(k int) []CodeUse {
	if t == nil || k <= 0 {
		return nil
	}
	counts := map[int]int{}
	for _, c := range t.Tokens {
		counts[c]++
	}
	var u []CodeUse
	for c, n := range counts {
		u = append(u, CodeUse{c, n})
	}
	slices.SortFunc(u, func(a, b CodeUse) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code))
	})
	return u[:min(k, len(u))]
}

// CrossGrid returns the cross-attention of decoder layer l, head h (h < 0:
// the mean over heads) paid to text position j, as a GridSide² map in
// raster order: entry s is what the query of step s (which predicts image
// token s) gives key j. It returns nil, rather than clamping, when there is
// no such map: l outside [0, len(Cross)), h ≥ the layer's heads, j outside
// [0, TextLen), or a Cross entry shorter than its shape says.
func (t *Trace) CrossGrid(l, h, j int) []float32 {
	if t == nil || l < 0 || l >= len(t.Cross) {
		return nil
	}
	c := t.Cross[l]
	if !probsShaped(c) || h >= c.Heads || j < 0 || j >= c.KVLen {
		return nil
	}
	S := c.QLen
	g := make([]float32, S)
	heads := []int{h}
	if h < 0 {
		heads = heads[:0]
		for hh := range c.Heads {
			heads = append(heads, hh)
		}
	}
	for s := range S {
		var sum float32
		for _, hh := range heads {
			sum += c.Row(0, hh, s)[j]
		}
		g[s] = sum / float32(len(heads))
	}
	return g
}

// CrossMean is CrossGrid averaged over all layers and heads; nil when
// CrossGrid is nil for any layer (j out of range) or there are no layers.
func (t *Trace) CrossMean(j int) []float32 {
	if t == nil {
		return nil
	}
	var g []float32
	for l := range t.Cross {
		gl := t.CrossGrid(l, -1, j)
		if gl == nil || (g != nil && len(gl) != len(g)) {
			return nil
		}
		if g == nil {
			g = gl
			continue
		}
		for i, v := range gl {
			g[i] += v
		}
	}
	for i := range g {
		g[i] /= float32(len(t.Cross))
	}
	return g
}

// CrossCentroid is the attention-weighted centre of CrossMean(j) in the
// image, as fractions of its width and height: (0, 0) the top left corner,
// (1, 1) the bottom right, cell s weighted at its centre. It puts a number on
// "where does the word land". A map with no weight gives (0.5, 0.5). (On the
// shipped default model the position words' centres are mirrored: see
// docs/default-model.md.) When CrossMean(j) is nil (j out of range) it is
// (0.5, 0.5) too.
func (t *Trace) CrossCentroid(j int) (x, y float64) {
	g := t.CrossMean(j)
	if g == nil {
		return 0.5, 0.5
	}
	return weightedCentre(g, t.Config.GridSide(), 0)
}

// CrossFocus is the centre of the part of CrossMean(j) above its mean:
// cells weighted by max(0, v − mean), as fractions of the image's width and
// height like CrossCentroid. It answers "where is this word attended more
// than on average", which CrossCentroid blurs when the weight is spread
// over the whole image (as on the default model, where every cell gives
// every word some weight). A flat map gives (0.5, 0.5), and so does a nil
// CrossMean(j) (j out of range).
func (t *Trace) CrossFocus(j int) (x, y float64) {
	g := t.CrossMean(j)
	if len(g) == 0 {
		return 0.5, 0.5
	}
	var mean float64
	for _, v := range g {
		mean += float64(v)
	}
	return weightedCentre(g, t.Config.GridSide(), mean/float64(len(g)))
}

// weightedCentre is the centre of a side×side raster-order grid with cell s
// weighted by max(0, g[s] − base), at the cell's centre, as fractions of the
// width and height; (0.5, 0.5) when no cell has weight or side ≤ 0.
func weightedCentre(g []float32, side int, base float64) (x, y float64) {
	if side <= 0 {
		return 0.5, 0.5
	}
	var sum float64
	for s, v := range g {
		w := float64(v) - base
		if w <= 0 {
			continue
		}
		x += w * (float64(s%side) + 0.5) / float64(side)
		y += w * (float64(s/side) + 0.5) / float64(side)
		sum += w
	}
	if !(sum > 0) {
		return 0.5, 0.5
	}
	return x / sum, y / sum
}

// probsShaped reports whether p holds the (Batch ≥ 1, Heads, QLen, KVLen)
// values its shape claims, so that p.Row(0, h, i) is in range.
func probsShaped(p model.Probs) bool {
	return p.Batch >= 1 && p.Heads > 0 && p.QLen > 0 && p.KVLen > 0 &&
		len(p.Data)/p.Heads/p.QLen/p.KVLen >= 1
}

// CheckOutDir reports whether a report may be written into dir: nil when dir
// does not exist yet, is an empty folder, or is a folder and force is set
// (the report's files then replace any of the same names, Trace.Files).
// A folder that already holds files without force gives an error wrapping
// fs.ErrExist; a dir that is not a folder gives an error whatever force.
// Run and Write call it before they write anything.
func CheckOutDir(dir string, force bool) error {
	if dir == "" {
		return errors.New("trace: no output directory")
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("trace: %s is not a folder", dir)
	}
	if force {
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	if names, err := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("trace: %s is not empty (use --force to write the report into it): %w", dir, fs.ErrExist)
	} else if err != nil && err != io.EOF {
		return fmt.Errorf("trace: %w", err)
	}
	return nil
}

// check reports why t cannot be written with m: Write needs a Trace as
// Record makes it, with every slice of the length its Config gives.
func (t *Trace) check(m *model.Model) error {
	if t == nil {
		return errors.New("trace: write of a nil trace")
	}
	if m == nil || m.VQGAN == nil {
		return errors.New("trace: write needs the model with its VQGAN")
	}
	cfg := t.Config
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("trace: not a recorded trace: %w", err)
	}
	if mc := m.Config.VQGAN; mc.Codebook != cfg.VQGAN.Codebook || mc.Upscale() != cfg.VQGAN.Upscale() {
		return errors.New("trace: the model's VQGAN is not the one the trace was recorded with")
	}
	S, H, T := cfg.ImageTokens, cfg.Heads, cfg.TextLen
	bad := func(format string, a ...any) error {
		return fmt.Errorf("trace: not a recorded trace: "+format, a...)
	}
	if t.Image == nil || t.Image.Rect.Empty() {
		return bad("no image")
	}
	if len(t.Frames) == 0 {
		return bad("no frames")
	}
	for i, f := range t.Frames {
		if f.Image == nil || f.Image.Rect.Empty() {
			return bad("frame %d has no image", i)
		}
	}
	if len(t.Tokens) != S {
		return bad("%d image tokens, want %d", len(t.Tokens), S)
	}
	for i, c := range t.Tokens {
		if c < 0 || c >= cfg.Codebook() {
			return bad("image token %d = %d outside the codebook [0, %d)", i, c, cfg.Codebook())
		}
	}
	if len(t.TextIDs) != T || len(t.TextLabels) != T {
		return bad("%d text ids and %d labels, want %d", len(t.TextIDs), len(t.TextLabels), T)
	}
	for _, j := range t.TextValid {
		if j < 0 || j >= T {
			return bad("text position %d outside [0, %d)", j, T)
		}
	}
	shaped := func(p model.Probs, q, kv int) bool {
		return probsShaped(p) && p.Heads == H && p.QLen == q && p.KVLen == kv
	}
	if len(t.Cross) != cfg.DecoderLayers || len(t.DecoderSelf) != cfg.DecoderLayers {
		return bad("%d cross- and %d self-attention layers, want %d", len(t.Cross), len(t.DecoderSelf), cfg.DecoderLayers)
	}
	for l := range cfg.DecoderLayers {
		if !shaped(t.Cross[l], S, T) || !shaped(t.DecoderSelf[l], S, S) {
			return bad("decoder layer %d's attention is not (1, %d, %d, %d) and (1, %d, %d, %d)", l, H, S, T, H, S, S)
		}
	}
	if len(t.Encoder) != cfg.EncoderLayers {
		return bad("%d encoder layers, want %d", len(t.Encoder), cfg.EncoderLayers)
	}
	for l, p := range t.Encoder {
		if p.Data != nil && !shaped(p, T, T) {
			return bad("encoder layer %d's attention is not (1, %d, %d, %d)", l, H, T, T)
		}
	}
	return nil
}

// writeFile writes one file of the report atomically (a synced temporary
// file renamed into place): an interrupted trace leaves whole files or none.
// The report folder was checked (CheckOutDir: new, empty or force) before
// the work.
func writeFile(path string, data []byte) error {
	if err := generator.WriteFileAtomic(path, data, true); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	return nil
}

func savePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("trace: %s: %w", path, err)
	}
	return writeFile(path, buf.Bytes())
}

// Write writes the report into dir (created if missing): index.html and
// the files of Files(), each atomically (a temporary file renamed into
// place). A dir that already holds files is refused with an error wrapping
// fs.ErrExist unless force is set; with force, files of the same names are
// replaced and others are left alone (CheckOutDir). t must be a Trace as
// Record returns it, and m the model it was recorded with (its VQGAN draws
// the most used codes); anything else is an error, checked before anything
// is written.
func (t *Trace) Write(ctx context.Context, m *model.Model, dir string, force bool) error {
	start := time.Now()
	if err := t.check(m); err != nil {
		return err
	}
	if err := CheckOutDir(dir, force); err != nil {
		return err
	}
	if t.Timings == nil {
		t.Timings = map[string]time.Duration{}
	}
	if err := os.MkdirAll(filepath.Join(dir, "cross"), 0o755); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	cfg := t.Config
	side := cfg.GridSide()
	path := func(name string) string { return filepath.Join(dir, filepath.FromSlash(name)) }
	if force { // links in the folder could lead two report files to one file
		files := t.Files()
		paths := make([]string, len(files))
		for k, f := range files {
			paths[k] = path(f)
		}
		if i, j, found := atomicfile.Collision(paths, true); found {
			return fmt.Errorf("trace: %s and %s lead to the same file", paths[i], paths[j])
		}
	}

	// Final image, token map, progressive GIF.
	if err := savePNG(path(FileImage), t.Image); err != nil {
		return err
	}
	if err := savePNG(path(FileTokens), tokenGridImage(t.Tokens, side, max(2, 256/side))); err != nil {
		return err
	}
	var gbuf bytes.Buffer
	if err := writeGIF(&gbuf, t.Frames, max(1, 256/t.Image.Rect.Dx())); err != nil {
		return fmt.Errorf("trace: %s: %w", FileGIF, err)
	}
	if err := writeFile(path(FileGIF), gbuf.Bytes()); err != nil {
		return err
	}

	// Most used codes, each decoded alone as a codeTile×codeTile map.
	uses := t.MostUsed(topCodes)
	codeImg := mosaic{rows: 2, cols: len(uses), cw: 64, ch: 64, rowLabels: []string{"code", "alone"}}
	colLabels := make([]string, len(uses))
	patches := make([]image.Image, len(uses))
	for i, u := range uses {
		if err := ctx.Err(); err != nil {
			return err
		}
		colLabels[i] = fmt.Sprintf("%d x%d", u.Code, u.Count)
		tiles := make([]int, codeTile*codeTile)
		for k := range tiles {
			tiles[k] = u.Code
		}
		raw, err := m.VQGAN.Decode(tiles, codeTile, codeTile)
		if err != nil {
			return fmt.Errorf("trace: decode code %d: %w", u.Code, err)
		}
		up := codeTile * cfg.VQGAN.Upscale()
		img, err := model.ToRGB(raw, up, up)
		if err != nil {
			return err
		}
		patches[i] = resize(img, 64)
	}
	codeImg.colLabels = colLabels
	if err := savePNG(path(FileCodes), codeImg.draw(func(r, c int) image.Image {
		if r == 0 {
			return tokenGridImage([]int{uses[c].Code}, 1, 64)
		}
		return patches[c]
	})); err != nil {
		return err
	}

	// Cross-attention: a summary per text token, and per-layer/head mosaics.
	summaryBase := resize(t.Image, summaryCell)
	cellBase := resize(t.Image, crossCell)
	H, L := cfg.Heads, cfg.DecoderLayers
	colLabels = []string{"mean"}
	for h := range H {
		colLabels = append(colLabels, fmt.Sprintf("head %d", h))
	}
	rowLabels := make([]string, L)
	for l := range L {
		rowLabels[l] = fmt.Sprintf("L%d", l)
	}
	for _, j := range t.TextValid {
		if err := ctx.Err(); err != nil {
			return err
		}
		summary := heatOverlay(summaryBase, t.CrossMean(j), side, 0)
		fx, fy := t.CrossFocus(j)
		drawMarker(summary, fx, fy)
		if err := savePNG(path(crossSummaryFile(j)), summary); err != nil {
			return err
		}
		mz := mosaic{rows: L, cols: H + 1, cw: crossCell, ch: crossCell, rowLabels: rowLabels, colLabels: colLabels}
		img := mz.draw(func(r, c int) image.Image {
			return heatOverlay(cellBase, t.CrossGrid(r, c-1, j), side, 0)
		})
		if err := savePNG(path(crossTokenFile(j)), img); err != nil {
			return err
		}
	}

	// Encoder self-attention over the prompt's tokens, per layer and head.
	nv := len(t.TextValid)
	px := max(2, matrixCell/max(nv, 1))
	headLabels := colLabels[1:]
	encRows := make([]string, cfg.EncoderLayers)
	for l := range encRows {
		encRows[l] = fmt.Sprintf("L%d", l)
	}
	enc := mosaic{rows: cfg.EncoderLayers, cols: H, cw: nv * px, ch: nv * px, rowLabels: encRows, colLabels: headLabels}
	if err := savePNG(path(FileEncoder), enc.draw(func(l, h int) image.Image {
		p := t.Encoder[l]
		if p.Data == nil {
			return nil
		}
		vals := make([]float32, nv*nv)
		for a, i := range t.TextValid {
			row := p.Row(0, h, i)
			for b, j := range t.TextValid {
				vals[a*nv+b] = row[j]
			}
		}
		return matrixImage(vals, nv, nv, px, 0, 0.5)
	})); err != nil {
		return err
	}

	// Decoder self-attention: the S×S lower-triangular matrix per layer and head.
	S := cfg.ImageTokens
	_, pooled := poolMatrix(make([]float32, S*S), S, matrixCell)
	dpx := max(1, matrixCell/pooled)
	dm := mosaic{rows: L, cols: H, cw: pooled * dpx, ch: pooled * dpx, rowLabels: rowLabels, colLabels: headLabels}
	if err := savePNG(path(FileDecoderSelf), dm.draw(func(l, h int) image.Image {
		d := t.DecoderSelf[l]
		vals, n := poolMatrix(d.Data[h*S*S:(h+1)*S*S], S, matrixCell)
		vals = slices.Clone(vals)
		for r := range n { // each query row scaled to its own maximum
			row := vals[r*n : (r+1)*n]
			if m := slices.Max(row); m > 0 {
				for j := range row {
					row[j] /= m
				}
			}
		}
		return matrixImage(vals, n, n, dpx, 1, 0.5)
	})); err != nil {
		return err
	}

	if err := plotFiles(t, dir); err != nil {
		return err
	}
	if err := t.writeJSON(path(FileJSON)); err != nil {
		return err
	}
	t.Timings["write report"] = time.Since(start)
	return t.writeHTML(path(FileIndex), uses)
}

// writeJSON writes the numbers behind the plots.
func (t *Trace) writeJSON(path string) error {
	type step struct {
		Token   int               `json:"token"`
		Rank    int               `json:"rank"`
		Prob    float32           `json:"prob"`
		Entropy float64           `json:"entropy_nats"`
		Kept    int               `json:"kept"`
		Top     []model.TokenProb `json:"top"`
	}
	out := struct {
		Prompt     string   `json:"prompt"`
		TextIDs    []int    `json:"text_ids"`
		TextLabels []string `json:"text_labels"`
		Tokens     []int    `json:"tokens"`
		Steps      []step   `json:"steps"`
		Options    Options  `json:"options"`
	}{Prompt: t.Prompt, TextIDs: t.TextIDs, TextLabels: t.TextLabels, Tokens: t.Tokens, Options: t.Options}
	for _, s := range t.Steps {
		out.Steps = append(out.Steps, step{s.Token, s.Rank, s.Prob, s.Entropy, s.Kept, s.Top})
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return fmt.Errorf("trace: %s: %w", path, err)
	}
	return writeFile(path, b)
}

type htmlToken struct {
	Pos      int
	ID       int
	Label    string
	Summary  string
	Mosaic   string
	Centroid string
	Focus    string
}

type htmlRow struct{ K, V string }

func (t *Trace) writeHTML(path string, uses []CodeUse) error {
	cfg := t.Config
	side, up := cfg.GridSide(), cfg.VQGAN.Upscale()
	px := side * up
	var toks []htmlToken
	for _, j := range t.TextValid {
		cx, cy := t.CrossCentroid(j)
		fx, fy := t.CrossFocus(j)
		toks = append(toks, htmlToken{Pos: j, ID: t.TextIDs[j], Label: t.TextLabels[j],
			Summary: crossSummaryFile(j), Mosaic: crossTokenFile(j), Centroid: fmt.Sprintf("(%.2f, %.2f)", cx, cy),
			Focus: fmt.Sprintf("(%.2f, %.2f)", fx, fy)})
	}
	timings := make([]htmlRow, 0, len(t.Timings))
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range t.Timings {
			if !yield(k) {
				return
			}
		}
	}) {
		timings = append(timings, htmlRow{k, t.Timings[k].Round(time.Millisecond).String()})
	}
	o := t.Options
	E, T, S, G := cfg.Width, cfg.TextLen, cfg.ImageTokens, cfg.GLU
	shapes := []htmlRow{
		{"text rows (uncond, prompt)", fmt.Sprintf("(2, %d) ids", T)},
		{"encoder state", fmt.Sprintf("(2, %d, %d)", T, E)},
		{"attention heads × head width", fmt.Sprintf("%d × %d", cfg.Heads, cfg.HeadDim())},
		{"GLU hidden", fmt.Sprint(G)},
		{"decoder step input / logits", fmt.Sprintf("(2, %d) / (2, %d)", E, cfg.Logits())},
		{"KV cache per layer", fmt.Sprintf("K and V (%d, 2, %d)", S, E)},
		{"image tokens", fmt.Sprintf("%d = %d×%d, codebook %d", S, side, side, cfg.Codebook())},
		{"VQGAN output", fmt.Sprintf("(3, %d, %d), %d px per token", px, px, up)},
	}
	data := map[string]any{
		"Prompt": t.Prompt, "Tokens": toks, "Uses": uses, "Timings": timings, "Shapes": shapes,
		"Options": []htmlRow{
			{"seed", fmt.Sprint(o.Seed)}, {"rng", o.RNG}, {"temperature", fmt.Sprint(o.Temperature)},
			{"top-k", fmt.Sprint(o.TopK)}, {"supercondition", fmt.Sprint(o.Supercondition)},
			{"preview every", fmt.Sprintf("%d tokens (%d frames)", o.PreviewEvery, len(t.Frames))},
		},
		"Config": fmt.Sprintf("E=%d, H=%d, G=%d, %d encoder + %d decoder layers, T=%d, S=%d, Vt=%d, Vi=%d",
			E, cfg.Heads, G, cfg.EncoderLayers, cfg.DecoderLayers, T, S, cfg.TextVocab, cfg.ImageVocab),
		"Side": side, "Heads": cfg.Heads, "DecLayers": cfg.DecoderLayers, "EncLayers": cfg.EncoderLayers,
		"ImgPx": max(256, px), "Files": map[string]string{
			"Image": FileImage, "GIF": FileGIF, "Tokens": FileTokens, "Codes": FileCodes, "Encoder": FileEncoder,
			"DecoderSelf": FileDecoderSelf, "Probs": FileProbs, "Entropy": FileEntropy, "Rank": FileRank, "JSON": FileJSON},
	}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, data); err != nil {
		return fmt.Errorf("trace: %s: %w", path, err)
	}
	return writeFile(path, buf.Bytes())
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tessella trace: {{.Prompt}}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 2em; }
img.px { image-rendering: pixelated; }
figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; max-width: 40em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
code { background: #f4f4f4; padding: 0 3px; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
.grid figure { margin: 0; } .scroll { overflow-x: auto; }
details { margin: 0.5em 0; }
</style>
</head>
<body>
<h1>Trace of “{{.Prompt}}”</h1>
<p>Model: {{.Config}}. Everything below comes from one run of the Go engine with tracing on; see
<code>docs/guide.md</code> for the math and the functions behind each picture.</p>
<table>{{range .Options}}<tr><th>{{.K}}</th><td>{{.V}}</td></tr>{{end}}</table>

<h2>Result</h2>
<figure><img class="px" src="{{.Files.Image}}" width="{{.ImgPx}}" height="{{.ImgPx}}" alt="final image"><figcaption>The image (VQGAN decode of the sampled tokens).</figcaption></figure>
<figure><img class="px" src="{{.Files.GIF}}" width="{{.ImgPx}}" height="{{.ImgPx}}" alt="progressive decode"><figcaption>Progressive decode: the token map re-decoded as it fills; unsampled positions hold the fill value ImageBOS, as min-dalle's progressive outputs do.</figcaption></figure>
<figure><img class="px" src="{{.Files.Tokens}}" width="256" height="256" alt="token map"><figcaption>The {{.Side}}×{{.Side}} image-token map, one colour per codebook index (raster order: token s at row s/{{.Side}}, column s%{{.Side}}).</figcaption></figure>

<h2>Text tokens</h2>
<table><tr><th>position</th>{{range .Tokens}}<td>{{.Pos}}</td>{{end}}</tr>
<tr><th>subword</th>{{range .Tokens}}<td><code>{{.Label}}</code></td>{{end}}</tr>
<tr><th>id</th>{{range .Tokens}}<td>{{.ID}}</td>{{end}}</tr></table>
<p>The other positions of the 64-id row are padding (id 1), masked with the additive −1e12.</p>

<h2>Decoder cross-attention: where each text token is looked at</h2>
<p>For text token <i>j</i>, cell <i>s</i> of the {{.Side}}×{{.Side}} grid shows the attention weight P[s, j] that the decoder query at step <i>s</i> (the one that predicts image token <i>s</i>) gives to token <i>j</i>, averaged over all {{.DecLayers}} layers and {{.Heads}} heads, for the prompt (conditioned) row, drawn over the final image (viridis, each map scaled to its own maximum). “centre” is the attention-weighted centre of the map as fractions of the width and height ((0, 0) top left, (1, 1) bottom right); “focus”, marked + on the map, is the centre of the part above the map’s mean: where the token is looked at more than on average.</p>
<div class="grid">{{range .Tokens}}<figure><img src="{{.Summary}}" width="160" height="160" alt="cross-attention to {{.Label}}"><figcaption><code>{{.Label}}</code> (position {{.Pos}})<br>centre {{.Centroid}}, focus {{.Focus}} (+)</figcaption></figure>{{end}}</div>
<p>Per layer (rows) and head (columns; the first column is the mean over heads):</p>
{{range .Tokens}}<details><summary>token {{.Pos}} <code>{{.Label}}</code></summary><div class="scroll"><img src="{{.Mosaic}}" alt="cross-attention per layer and head to {{.Label}}"></div></details>
{{end}}

<h2>Sampling, step by step</h2>
<p>At each step the logits of the unconditioned and conditioned rows are mixed, m = uncond·(1−f) + cond·f; the top-k threshold (<code>&gt;=</code>, so ties are kept) and the temperature give the distribution p the token is drawn from.</p>
<figure><img src="{{.Files.Probs}}" alt="top-k probabilities per step"><figcaption>Probability mass of the most probable tokens, and the probability of the token that was drawn.</figcaption></figure>
<figure><img src="{{.Files.Entropy}}" alt="entropy per step"><figcaption>Entropy of p per step (nats); the upper line is its maximum, ln of the number of tokens kept.</figcaption></figure>
<figure><img src="{{.Files.Rank}}" alt="rank of the sampled token"><figcaption>Rank of the drawn token among the mixed logits (1 = the most probable).</figcaption></figure>
<p>The numbers are in <a href="{{.Files.JSON}}">{{.Files.JSON}}</a>.</p>

<h2>Encoder self-attention</h2>
<p>Rows: the {{.EncLayers}} encoder layers; columns: heads. Each cell is the matrix P[i, j] over the prompt's non-padding tokens (query i down, key j across, in the order of the table above), colour √(P / cell maximum).</p>
<div class="scroll"><img class="px" src="{{.Files.Encoder}}" alt="encoder self-attention"></div>

<h2>Decoder self-attention</h2>
<p>Rows: decoder layers; columns: heads. Each cell is the lower-triangular matrix of step i's query (down) over cache slots 0..i (across); the future slots get exactly 0 (they carry −1e12). Averaged in blocks when larger than 128 pixels; colour √(P / row maximum), so each step's own pattern shows.</p>
<div class="scroll"><img class="px" src="{{.Files.DecoderSelf}}" alt="decoder self-attention"></div>

<h2>Most used codes</h2>
<p>The codebook entries the image uses most (label: code x count), with their colour in the token map and each code tiled 4×4 and decoded alone (a code's pixels depend on its neighbours, so this is only its look in isolation).</p>
<img class="px" src="{{.Files.Codes}}" alt="most used codes">
<table><tr><th>code</th>{{range .Uses}}<td>{{.Code}}</td>{{end}}</tr><tr><th>count</th>{{range .Uses}}<td>{{.Count}}</td>{{end}}</tr></table>

<h2>Shapes of this run</h2>
<table>{{range .Shapes}}<tr><th>{{.K}}</th><td>{{.V}}</td></tr>{{end}}</table>
<h2>Timings</h2>
<table>{{range .Timings}}<tr><th>{{.K}}</th><td>{{.V}}</td></tr>{{end}}</table>
</body>
</html>
`))
