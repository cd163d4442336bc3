package judge

import (
	"errors"
	"fmt"
	"image"
	"math"
	"slices"

	"github.com/tessella-ml/tessella/attention"
	"github.com/tessella-ml/tessella/internal/load"
	"github.com/tessella-ml/tessella/internal/matmul"
	"github.com/tessella-ml/tessella/internal/vec"
)

// Size is the side of the judge's square input image, in pixels.
const Size = 64

// grid is the side of the image-token grid (Size halved three times).
const grid = Size / 8

// Config is the judge's architecture; its JSON is the "judge.config"
// metadata that training/train_judge.py writes.
type Config struct {
	TextVocab    int     `json:"text_vocab"`     // caption vocabulary (the tokenizer's)
	TextLen      int     `json:"text_len"`       // positions of txt_pos: longest caption row
	Width        int     `json:"width"`          // W
	Heads        int     `json:"heads"`          // H, dividing W
	Layers       int     `json:"layers"`         // L
	MLP          int     `json:"mlp"`            // M
	Channels     []int   `json:"channels"`       // C0…C3, the four convolutions' outputs
	LayerNormEps float32 `json:"layer_norm_eps"` // every LayerNorm's eps
}

// Validate reports a config the forward pass cannot run.
func (c Config) Validate() error {
	switch {
	case c.TextVocab <= 0 || c.TextLen <= 0:
		return fmt.Errorf("judge config: text_vocab %d and text_len %d must be positive", c.TextVocab, c.TextLen)
	case c.Width <= 0 || c.Heads <= 0 || c.Width%c.Heads != 0:
		return fmt.Errorf("judge config: width %d must be a positive multiple of heads %d", c.Width, c.Heads)
	case c.Layers <= 0 || c.MLP <= 0:
		return fmt.Errorf("judge config: layers %d and mlp %d must be positive", c.Layers, c.MLP)
	case !(c.LayerNormEps > 0):
		return fmt.Errorf("judge config: layer_norm_eps %v must be positive", c.LayerNormEps)
	}
	return validChannels("judge config", c.Channels)
}

// validChannels checks a stem's four conv channel counts.
func validChannels(what string, ch []int) error {
	if len(ch) != 4 {
		return fmt.Errorf("%s: %d conv channel counts, want 4", what, len(ch))
	}
	for _, c := range ch {
		if c <= 0 {
			return fmt.Errorf("%s: conv channels %v must be positive", what, ch)
		}
	}
	return nil
}

// Source supplies tensors by name (without the "judge." prefix), as
// model.Source does; package weights implements it.
type Source interface {
	Has(name string) bool
	Float32(name string) (data []float32, shape []int, err error)
}

// Judge is a loaded judge network. Its methods may be called from one
// goroutine at a time.
type Judge struct {
	cfg Config

	convs   [4]conv        // conv_i: (C_i, C_{i−1}, 3, 3) + bias (C_i)
	imgProj *matmul.Linear // (W, C3)
	imgPos  []float32      // (64, W)
	lnImg   layerNorm      // (W)
	tokEmb  []float32      // (TextVocab, W)
	txtPos  []float32      // (TextLen, W)
	layers  []layer
	lnF     layerNorm      // (W)
	lmHead  *matmul.Linear // (TextVocab, W)
}

type conv struct {
	w    []float32 // (out, in·9): row o holds in × 3 × 3
	b    []float32 // (out)
	in   int
	out  int
	name string
}

type layerNorm struct {
	w, b []float32
	eps  float32
}

type layer struct {
	ln1, ln2, ln3     layerNorm
	qkv               *matmul.Linear // (3W, W) = [q; k; v]
	o, cq, ck, cv, co *matmul.Linear // (W, W)
	fc1, fc2          *matmul.Linear // (M, W), (W, M)
	b1, b2            []float32      // (M), (W)
}

// New loads a judge of config cfg from src.
func New(cfg Config, src Source) (*Judge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ld := &loader{load.Reader{Src: src, Part: "judge"}}
	w, ch := cfg.Width, cfg.Channels
	j := &Judge{cfg: cfg, convs: ld.stem(ch)}
	j.imgProj = ld.linear("img_proj.weight", w, ch[3])
	j.imgPos = ld.Tensor("img_pos", grid*grid, w)
	j.lnImg = ld.layerNorm("ln_img", w, cfg.LayerNormEps)
	j.tokEmb = ld.Tensor("tok_emb.weight", cfg.TextVocab, w)
	j.txtPos = ld.Tensor("txt_pos", cfg.TextLen, w)
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("layers.%d.", l)
		var ly layer
		ly.ln1 = ld.layerNorm(p+"ln1", w, cfg.LayerNormEps)
		ly.ln2 = ld.layerNorm(p+"ln2", w, cfg.LayerNormEps)
		ly.ln3 = ld.layerNorm(p+"ln3", w, cfg.LayerNormEps)
		q, k, v := ld.Tensor(p+"q.weight", w, w), ld.Tensor(p+"k.weight", w, w), ld.Tensor(p+"v.weight", w, w)
		if ld.Err == nil {
			ly.qkv = matmul.NewLinear(slices.Concat(q, k, v), 3*w, w)
		}
		ly.o = ld.linear(p+"o.weight", w, w)
		ly.cq = ld.linear(p+"cq.weight", w, w)
		ly.ck = ld.linear(p+"ck.weight", w, w)
		ly.cv = ld.linear(p+"cv.weight", w, w)
		ly.co = ld.linear(p+"co.weight", w, w)
		ly.fc1 = ld.linear(p+"fc1.weight", cfg.MLP, w)
		ly.b1 = ld.Tensor(p+"fc1.bias", cfg.MLP)
		ly.fc2 = ld.linear(p+"fc2.weight", w, cfg.MLP)
		ly.b2 = ld.Tensor(p+"fc2.bias", w)
		j.layers = append(j.layers, ly)
	}
	j.lnF = ld.layerNorm("ln_f", w, cfg.LayerNormEps)
	j.lmHead = ld.linear("lm_head.weight", cfg.TextVocab, w)
	if ld.Err != nil {
		return nil, ld.Err
	}
	return j, nil
}

// Config returns the judge's configuration.
func (j *Judge) Config() Config { return j.cfg }

// Memory is one image's encoding: the keys and values every layer's
// cross-attention reads, each (64, W).
type Memory struct {
	k, v [][]float32
}

// ImageMemory encodes a Size×Size image (alpha ignored), as model.Image
// returns them.
func (j *Judge) ImageMemory(img *image.RGBA) (*Memory, error) {
	m, err := j.imageTokens(img)
	if err != nil {
		return nil, err
	}
	mem := &Memory{}
	for _, ly := range j.layers {
		k := make([]float32, len(m))
		v := make([]float32, len(m))
		ly.ck.Forward(k, m, grid*grid)
		ly.cv.Forward(v, m, grid*grid)
		mem.k = append(mem.k, k)
		mem.v = append(mem.v, v)
	}
	return mem, nil
}

// imageTokens runs the conv stem and the projection: m (64, W).
func (j *Judge) imageTokens(img *image.RGBA) ([]float32, error) {
	x, err := pixels(img)
	if err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	x = stem(j.convs[:], x)
	// x is (C3, 8, 8): token p's feature vector is column p.
	c3, w := j.cfg.Channels[3], j.cfg.Width
	t := make([]float32, grid*grid*c3) // (64, C3)
	for c := 0; c < c3; c++ {
		for p := 0; p < grid*grid; p++ {
			t[p*c3+c] = x[c*grid*grid+p]
		}
	}
	m := make([]float32, grid*grid*w)
	j.imgProj.Forward(m, t, grid*grid)
	for i := range m {
		m[i] += j.imgPos[i]
	}
	j.lnImg.forward(m, m)
	return m, nil
}

// pixels returns a Size×Size image's RGB channels (alpha ignored) as
// (3, Size, Size) values in [0, 1].
func pixels(img *image.RGBA) ([]float32, error) {
	if img == nil || img.Rect.Dx() != Size || img.Rect.Dy() != Size {
		return nil, fmt.Errorf("want a %d×%d image", Size, Size)
	}
	x := make([]float32, 3*Size*Size) // (3, 64, 64)
	for y := 0; y < Size; y++ {
		row := img.Pix[img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y):]
		for px := 0; px < Size; px++ {
			for c := 0; c < 3; c++ {
				x[c*Size*Size+y*Size+px] = float32(row[4*px+c]) / 255
			}
		}
	}
	return x, nil
}

// stem runs the four convolutions on x (3, Size, Size), each followed by
// GELU and the first three by 2×2 mean pooling: (C3, 8, 8).
func stem(convs []conv, x []float32) []float32 {
	side := Size
	for i := range convs {
		c := &convs[i]
		x = c.forward(x, side)
		for t := range x {
			x[t] = vec.GELU(x[t])
		}
		if i < len(convs)-1 {
			x = pool2(x, c.out, side)
			side /= 2
		}
	}
	return x
}

// Score returns how well an encoded image explains a caption: the sum,
// over the caption's tokens after BOS (its words and EOS), of
// log p(token | the tokens before it, the image). ids is a token row as the
// encoder reads it, [BOS, …, EOS] followed by pads; pads (id 1) are
// dropped. Scores of one caption against different images compare; the
// larger is the better match.
func (j *Judge) Score(ids []int, mem *Memory) (float64, error) {
	cfg := j.cfg
	w := cfg.Width
	var toks []int
	for _, id := range ids {
		if id == pad {
			continue
		}
		if id < 0 || id >= cfg.TextVocab {
			return 0, fmt.Errorf("judge: token %d outside [0, %d)", id, cfg.TextVocab)
		}
		toks = append(toks, id)
	}
	t := len(toks)
	switch {
	case t < 2:
		return 0, fmt.Errorf("judge: a caption row needs BOS and at least one more token, got %d tokens", t)
	case t > cfg.TextLen:
		return 0, fmt.Errorf("judge: %d caption tokens, at most %d", t, cfg.TextLen)
	case mem == nil || len(mem.k) != len(j.layers) || len(mem.v) != len(j.layers):
		return 0, errors.New("judge: memory of another judge")
	}
	for l := range j.layers {
		if len(mem.k[l]) != grid*grid*w || len(mem.v[l]) != grid*grid*w {
			return 0, fmt.Errorf("judge: memory of another judge: layer %d keys/values have %d/%d values, want %d·%d",
				l, len(mem.k[l]), len(mem.v[l]), grid*grid, w)
		}
	}
	x := make([]float32, t*w) // (t, W)
	for i, id := range toks {
		e, p, r := j.tokEmb[id*w:(id+1)*w], j.txtPos[i*w:(i+1)*w], x[i*w:(i+1)*w]
		for c := range r {
			r[c] = e[c] + p[c]
		}
	}
	y := make([]float32, t*w)
	qkv := make([]float32, t*3*w)
	a := make([]float32, t*w)
	q := make([]float32, t*w)
	h := make([]float32, t*cfg.MLP)
	for l, ly := range j.layers {
		// causal self-attention over the caption (token i sees tokens 0…i)
		ly.ln1.forward(y, x)
		ly.qkv.Forward(qkv, y, t)
		if err := attend(a, qkv, 3*w, qkv[w:], 3*w, qkv[2*w:], 3*w, t, t, w, cfg.Heads, true); err != nil {
			return 0, err
		}
		ly.o.Forward(y, a, t)
		addTo(x, y)
		// cross-attention to the image tokens
		ly.ln2.forward(y, x)
		ly.cq.Forward(q, y, t)
		if err := attend(a, q, w, mem.k[l], w, mem.v[l], w, t, grid*grid, w, cfg.Heads, false); err != nil {
			return 0, err
		}
		ly.co.Forward(y, a, t)
		addTo(x, y)
		// MLP
		ly.ln3.forward(y, x)
		ly.fc1.Forward(h, y, t)
		for i := range h {
			h[i] = vec.GELU(h[i] + ly.b1[i%cfg.MLP])
		}
		ly.fc2.Forward(y, h, t)
		for i := range y {
			x[i] += y[i] + ly.b2[i%w]
		}
	}
	// position i (0 … t−2) predicts token i+1
	j.lnF.forward(y[:(t-1)*w], x[:(t-1)*w])
	logits := make([]float32, (t-1)*cfg.TextVocab)
	j.lmHead.Forward(logits, y[:(t-1)*w], t-1)
	var score float64
	for i := 0; i < t-1; i++ {
		score += logSoftmaxAt(logits[i*cfg.TextVocab:(i+1)*cfg.TextVocab], toks[i+1])
	}
	return score, nil
}

// logSoftmaxAt returns log softmax(row)[k], in float64.
func logSoftmaxAt(row []float32, k int) float64 {
	mx := row[0]
	for _, v := range row {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v - mx))
	}
	return float64(row[k]-mx) - math.Log(sum)
}

// pad is the tokenizer's padding id (min-dalle's <pad>).
const pad = 1

// attend writes softmax(Q_h·K_hᵀ/√D)·V_h for every head into out (nq, W)
// with attention.Plain; q, k, v are row-major with row strides ldq, ldk,
// ldv. With causal, query i sees keys 0…i only.
func attend(out, q []float32, ldq int, k []float32, ldk int, v []float32, ldv int, nq, nk, w, heads int, causal bool) error {
	d := w / heads
	a := attention.Args{Batch: 1, Heads: heads, QLen: nq, KVLen: nk, HeadDim: d,
		Q:       attention.Operand{Data: q, RowStride: ldq, HeadStride: d},
		K:       attention.Operand{Data: k, RowStride: ldk, HeadStride: d},
		V:       attention.Operand{Data: v, RowStride: ldv, HeadStride: d},
		Out:     attention.Operand{Data: out, RowStride: w, HeadStride: d},
		Mask:    attention.Mask{Causal: causal},
		Threads: 1, // a few dozen rows: goroutines would cost more than they save
	}
	return attention.Plain{}.Forward(&a)
}

// forward computes the 3×3, padding-1 convolution of x (in, side, side)
// into a new (out, side, side) slice, as one product of the weight (out,
// in·9) with the image's patches (in·9, side²).
func (c *conv) forward(x []float32, side int) []float32 {
	n := side * side
	col := make([]float32, c.in*9*n)
	for ci := 0; ci < c.in; ci++ {
		src := x[ci*n : (ci+1)*n]
		for ky := 0; ky < 3; ky++ {
			for kx := 0; kx < 3; kx++ {
				dst := col[(ci*9+ky*3+kx)*n : (ci*9+ky*3+kx+1)*n]
				for yy := 0; yy < side; yy++ {
					sy := yy + ky - 1
					row := dst[yy*side : (yy+1)*side]
					if sy < 0 || sy >= side {
						clear(row)
						continue
					}
					for xx := range row {
						sx := xx + kx - 1
						if sx < 0 || sx >= side {
							row[xx] = 0
						} else {
							row[xx] = src[sy*side+sx]
						}
					}
				}
			}
		}
	}
	y := make([]float32, c.out*n)
	for o := 0; o < c.out; o++ {
		row := y[o*n : (o+1)*n]
		for i := range row {
			row[i] = c.b[o]
		}
	}
	matmul.Gemm(false, false, c.out, n, c.in*9, 1, c.w, c.in*9, col, n, 1, y, n)
	return y
}

// pool2 averages each 2×2 block of x (ch, side, side) into (ch, side/2, side/2).
func pool2(x []float32, ch, side int) []float32 {
	h := side / 2
	y := make([]float32, ch*h*h)
	for c := 0; c < ch; c++ {
		src := x[c*side*side:]
		for i := 0; i < h; i++ {
			for jj := 0; jj < h; jj++ {
				s := src[2*i*side+2*jj] + src[2*i*side+2*jj+1] + src[(2*i+1)*side+2*jj] + src[(2*i+1)*side+2*jj+1]
				y[c*h*h+i*h+jj] = s * 0.25
			}
		}
	}
	return y
}

func addTo(x, y []float32) {
	for i := range x {
		x[i] += y[i]
	}
}

// forward normalises each row of x into y (y may be x).
func (ln *layerNorm) forward(y, x []float32) {
	width := len(ln.w)
	for r := 0; r+width <= len(x); r += width {
		xr, yr := x[r:r+width], y[r:r+width]
		mean, inv := vec.MeanInvStd(xr, ln.eps)
		for i, v := range xr {
			yr[i] = float32((float64(v)-mean)*inv)*ln.w[i] + ln.b[i]
		}
	}
}

// loader reads tensors, checking shapes; it keeps the first error.
type loader struct{ load.Reader }

func (ld *loader) linear(name string, out, in int) *matmul.Linear {
	w := ld.Tensor(name, out, in)
	if w == nil {
		return nil
	}
	return matmul.NewLinear(w, out, in)
}

// stem reads the four convolutions convs.0…3 of channels ch (3 inputs).
func (ld *loader) stem(ch []int) [4]conv {
	var convs [4]conv
	in := 3
	for i := range convs {
		name := fmt.Sprintf("convs.%d", i)
		convs[i] = conv{w: ld.Tensor(name+".weight", ch[i], in, 3, 3), b: ld.Tensor(name+".bias", ch[i]),
			in: in, out: ch[i], name: name}
		in = ch[i]
	}
	return convs
}

func (ld *loader) layerNorm(prefix string, width int, eps float32) layerNorm {
	return layerNorm{w: ld.Tensor(prefix+".weight", width), b: ld.Tensor(prefix+".bias", width), eps: eps}
}
