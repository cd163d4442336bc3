package model

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/attention"
	"github.com/tessella-ml/tessella/internal/matmul"
	"github.com/tessella-ml/tessella/model/vqgan"
)

// small is a tiny config for unit tests (head width 64 like min-dalle).
func small() Config {
	c := Config{TextVocab: 40, TextLen: 8, TextPad: 1, Width: 64, Heads: 1, GLU: 48,
		EncoderLayers: 2, DecoderLayers: 2, ImageVocab: 32, ImageTokens: 16, ImageBOS: 31,
		LayerNormEps: 1e-5, VQGAN: vqgan.MinDalle()}
	c.VQGAN.Codebook = 30
	return c
}

func smallText(c Config) [][]int {
	rows := [][]int{make([]int, c.TextLen), make([]int, c.TextLen)}
	for i := range rows[0] {
		rows[0][i], rows[1][i] = 1, 1
	}
	rows[0][0], rows[0][1] = 0, 2
	copy(rows[1], []int{0, 5, 17, 9, 2})
	return rows
}

func smallModel(t *testing.T, c Config, seed uint64) *Model {
	t.Helper()
	enc, dec, err := RandomSource(c, seed)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(c, enc, dec, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func shapeParams(m map[string][]int) int64 {
	var n int64
	for _, s := range m {
		p := int64(1)
		for _, d := range s {
			p *= int64(d)
		}
		n += p
	}
	return n
}

// The presets have the parameter counts of spec §2 (verified there against
// instantiated min-dalle modules). Nothing is allocated.
func TestPresetShapes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		enc, dec int64
	}{
		{"mini", Mini(), 202_649_584, 235_313_136},
		{"mega", Mega(), 1_110_220_800, 1_477_746_688},
	} {
		if err := tc.cfg.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got := shapeParams(EncoderShapes(tc.cfg)); got != tc.enc {
			t.Errorf("%s encoder: %d parameters, want %d", tc.name, got, tc.enc)
		}
		if got := shapeParams(DecoderShapes(tc.cfg)); got != tc.dec {
			t.Errorf("%s decoder: %d parameters, want %d", tc.name, got, tc.dec)
		}
		enc, dec, err := RandomSource(tc.cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		if enc.Params()+dec.Params() != tc.enc+tc.dec {
			t.Errorf("%s: RandomSource has %d parameters", tc.name, enc.Params()+dec.Params())
		}
		got, err := InferConfig(enc, dec)
		if err != nil {
			t.Fatal(err)
		}
		if !configEqual(got, tc.cfg) {
			t.Errorf("%s: InferConfig = %+v, want %+v", tc.name, got, tc.cfg)
		}
	}
	if Mini().HeadDim() != 64 || Mega().HeadDim() != 64 || Mini().GridSide() != 16 || Mega().Logits() != 16416 {
		t.Error("derived sizes wrong")
	}
}

func TestConfigValidateErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"zero width", func(c *Config) { c.Width = 0 }, "width"},
		{"heads", func(c *Config) { c.Heads = 3 }, "multiple of heads"},
		{"square", func(c *Config) { c.ImageTokens = 200 }, "perfect square"},
		{"bos", func(c *Config) { c.ImageBOS = c.ImageVocab + 1 }, "image_bos"},
		{"pad", func(c *Config) { c.TextPad = c.TextVocab }, "text_pad"},
		{"eps", func(c *Config) { c.LayerNormEps = float32(math.NaN()) }, "layer_norm_eps"},
		{"codebook", func(c *Config) { c.VQGAN.Codebook = c.ImageVocab + 2 }, "codebook"},
		{"vqgan", func(c *Config) { c.VQGAN.Groups = 0 }, "groups"},
		{"vqgan 64 levels", func(c *Config) {
			c.VQGAN.ChannelMult = slices.Repeat([]int{1}, 64)
			c.VQGAN.AttnLevels = nil
		}, "levels"},
		{"vqgan channel overflow", func(c *Config) {
			c.VQGAN.Base, c.VQGAN.ChannelMult, c.VQGAN.AttnLevels = 1<<40, []int{1 << 24}, nil
		}, "channels"},
		{"vqgan huge channels", func(c *Config) {
			c.VQGAN.Base, c.VQGAN.ChannelMult, c.VQGAN.AttnLevels = 1<<30, []int{1}, nil
		}, "channels"},
		{"pixels", func(c *Config) {
			c.ImageTokens = 1 << 60
			c.VQGAN.ChannelMult = slices.Repeat([]int{1}, 31)
			c.VQGAN.AttnLevels = nil
		}, "pixels"},
	} {
		c := Mini()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestMergeJSON(t *testing.T) {
	base := Mini()
	got, err := MergeJSON(base, []byte(`{"width": 512, "heads": 8, "encoder_layers": 3, "vqgan": {"Codebook": 1000, "ChannelMult": [1, 2], "AttnLevels": [1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != 512 || got.Heads != 8 || got.EncoderLayers != 3 || got.DecoderLayers != 12 ||
		got.VQGAN.Codebook != 1000 || !slices.Equal(got.VQGAN.ChannelMult, []int{1, 2}) || got.VQGAN.CodeDim != 256 {
		t.Errorf("merged config %+v", got)
	}
	if !configEqual(base, Mini()) {
		t.Errorf("MergeJSON modified its base: %+v", base)
	}
	for _, bad := range []string{`{"widht": 5}`, `{"width": -1}`, `{"width": "x"}`, `{} {}`, `[`} {
		if _, err := MergeJSON(base, []byte(bad)); err == nil {
			t.Errorf("MergeJSON(%s) accepted", bad)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	c := small()
	encR, decR, err := RandomSource(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	copySrc := func(r *RandomWeights) *MemSource {
		m := NewMemSource()
		for _, name := range r.Names() {
			d, s, err := r.Float32(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Set(name, d, s...); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	// A wrong shape is reported with the tensor's name and both shapes.
	dec := copySrc(decR)
	if err := dec.Set("layers.1.glu.fc0.weight", make([]float32, 64*47), 47, 64); err != nil {
		t.Fatal(err)
	}
	_, err = NewDecoder(c, dec)
	if err == nil || !strings.Contains(err.Error(), "decoder: layers.1.glu.fc0.weight has shape [47 64], want [48 64]") {
		t.Errorf("wrong shape: %v", err)
	}
	// A missing projection is an error naming it.
	enc := copySrc(encR)
	enc.Delete("layers.0.self_attn.k_proj.weight")
	_, err = NewEncoder(c, enc)
	if err == nil || !strings.Contains(err.Error(), "layers.0.self_attn.k_proj.weight") {
		t.Errorf("missing projection: %v", err)
	}
	// Missing LayerNorm weight → ones, missing bias → zeros: the same as
	// storing them explicitly.
	encA, encB := copySrc(encR), copySrc(encR)
	for _, name := range []string{"final_ln.weight", "layers.1.glu.ln1.weight", "layers.0.self_attn_layer_norm.bias"} {
		encA.Delete(name)
		_, s, _ := encB.Float32(name)
		v := make([]float32, s[0])
		if strings.HasSuffix(name, ".weight") {
			for i := range v {
				v[i] = 1
			}
		}
		if err := encB.Set(name, v, s...); err != nil {
			t.Fatal(err)
		}
	}
	text := smallText(c)
	var outs [][]float32
	for _, src := range []Source{encA, encB} {
		e, err := NewEncoder(c, src)
		if err != nil {
			t.Fatal(err)
		}
		o, err := e.Forward(text)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, o)
	}
	if !slices.Equal(outs[0], outs[1]) {
		t.Error("missing LayerNorm parameters do not default to weight 1 / bias 0")
	}
	if _, err := NewEncoder(c, nil); err == nil {
		t.Error("NewEncoder(nil source) accepted")
	}
	bad := c
	bad.Heads = 0
	if _, err := NewDecoder(bad, dec); err == nil {
		t.Error("NewDecoder with an invalid config accepted")
	}
}

func TestBadInput(t *testing.T) {
	c := small()
	m := smallModel(t, c, 1)
	text := smallText(c)
	ctx := context.Background()
	opts := SampleOptions{Temperature: 1, TopK: 4, Supercondition: 3}
	short := [][]int{text[0], text[1][:3]}
	outOfRange := [][]int{text[0], slices.Clone(text[1])}
	outOfRange[1][2] = c.TextVocab
	negative := [][]int{text[0], slices.Clone(text[1])}
	negative[1][2] = -1
	for _, rows := range [][][]int{nil, short, outOfRange, negative} {
		if _, err := m.Encoder.Forward(rows); err == nil {
			t.Errorf("Encoder.Forward(%v) accepted", rows)
		}
	}
	state, err := m.Encoder.Forward(text)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Decoder.NewState(state, text, 0); err == nil {
		t.Error("NewState(n=0) accepted")
	}
	if _, err := m.Decoder.NewState(state[:10], text, 1); err == nil {
		t.Error("NewState(short encoder state) accepted")
	}
	if _, err := m.Decoder.NewState(state, text[:1], 1); err == nil {
		t.Error("NewState(one text row) accepted")
	}
	st, err := m.Decoder.NewState(state, text, 2)
	if err != nil {
		t.Fatal(err)
	}
	bos := []int{c.ImageBOS, c.ImageBOS}
	for _, tc := range []struct {
		prev []int
		i    int
	}{{bos, -1}, {bos, c.ImageTokens}, {bos, 1}, {bos[:1], 0}, {[]int{0, c.Logits()}, 0}, {[]int{-1, 0}, 0}} {
		if _, err := m.Decoder.Step(st, tc.prev, tc.i); err == nil {
			t.Errorf("Step(%v, %d) accepted", tc.prev, tc.i)
		}
	}
	if _, err := m.Decoder.Step(nil, bos, 0); err == nil {
		t.Error("Step(nil state) accepted")
	}
	// A state made by another decoder (here a wider one) is refused, not
	// read as this decoder's cache.
	c2 := c
	c2.Width, c2.Heads, c2.GLU = 2*c.Width, 2*c.Heads, 2*c.GLU
	m2 := smallModel(t, c2, 2)
	state2, err := m2.Encoder.Forward(text)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := m2.Decoder.NewState(state2, text, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Decoder.Step(st2, bos, 0); err == nil || !strings.Contains(err.Error(), "another decoder") {
		t.Errorf("Step(another decoder's state) = %v, want an error", err)
	}
	if _, err := m.Decoder.Step(&State{n: 2, rows: 4}, bos, 0); err == nil {
		t.Error("Step(a State not made by NewState) accepted")
	}
	dcopy := *m.Decoder // a copy shares the weights, so the state is its own
	if _, err := dcopy.Step(st, bos, 0); err != nil {
		t.Errorf("Step on a copy of the decoder: %v", err)
	}
	noise := NewGoRNG(1)
	for _, o := range []SampleOptions{
		{Temperature: -1, TopK: 4, Supercondition: 3},
		{Temperature: 0, TopK: 4, Supercondition: 3},
		{Temperature: float32(math.Inf(1)), TopK: 4, Supercondition: 3},
		{Temperature: 1, TopK: -1, Supercondition: 3},
		{Temperature: 1, TopK: c.Codebook() + 1, Supercondition: 3},
		{Temperature: 1, TopK: 4, Supercondition: float32(math.NaN())},
		{Temperature: 1, TopK: 4, Supercondition: 3e38},
	} {
		if _, err := m.GenerateTokens(ctx, text, 1, o, noise, nil); err == nil {
			t.Errorf("GenerateTokens(%+v) accepted", o)
		}
	}
	if _, err := m.GenerateTokens(ctx, text, 0, opts, noise, nil); err == nil {
		t.Error("GenerateTokens(n=0) accepted")
	}
	if _, err := m.GenerateTokens(ctx, text, 1, opts, nil, nil); err == nil {
		t.Error("GenerateTokens(nil noise) accepted")
	}
	if _, err := m.GenerateTokens(ctx, text[:1], 1, opts, noise, nil); err == nil {
		t.Error("GenerateTokens(one text row) accepted")
	}
	// Cancelling stops the loop at the next step.
	cctx, cancel := context.WithCancel(ctx)
	steps := 0
	_, err = m.GenerateTokens(cctx, text, 1, opts, noise, func(step int, _ [][]int) {
		steps++
		if step == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || steps != 3 {
		t.Errorf("cancelled run: err %v after %d steps, want context.Canceled after 3", err, steps)
	}
	if _, err := m.Image(make([]int, c.ImageTokens)); err == nil {
		t.Error("Image without a VQGAN accepted")
	}
	if _, err := m.GridImage(nil, 1<<32, false); err == nil {
		t.Error("GridImage(nil, 2^32) accepted")
	}
	var z Model
	z.SetTracer(nil) // a zero Model has no encoder or decoder; no panic
	if _, err := AttentionProbs(nil); err == nil {
		t.Error("AttentionProbs(nil) accepted")
	}
	s, _ := NewSampler(c.Codebook())
	if err := s.Sample(make([]int, 1), make([]float32, 3), c.Logits(), opts, noise); err == nil {
		t.Error("Sample with too few logits accepted")
	}
	if err := s.Sample(nil, nil, c.Logits(), opts, noise); err == nil {
		t.Error("Sample with no images accepted")
	}
	if _, err := NewSampler(0); err == nil {
		t.Error("NewSampler(0) accepted")
	}
}

// A random model of a small config runs end to end; the same seed gives the
// same tokens, all inside the codebook, and onStep sees the fill value.
func TestRandomModelGenerate(t *testing.T) {
	c := small()
	m := smallModel(t, c, 5)
	text := smallText(c)
	opts := SampleOptions{Temperature: 1, TopK: 0, Supercondition: 4}
	var runs [][][]int
	for range 2 {
		toks, err := m.GenerateTokens(context.Background(), text, 3, opts, NewGoRNG(9), func(step int, tokens [][]int) {
			if step+1 < c.ImageTokens && tokens[2][step+1] != c.ImageBOS {
				t.Errorf("step %d: unsampled position holds %d, want the fill value %d", step, tokens[2][step+1], c.ImageBOS)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, toks)
	}
	for b, row := range runs[0] {
		if !slices.Equal(row, runs[1][b]) {
			t.Errorf("image %d differs between two runs with the same seed", b)
		}
		for _, tok := range row {
			if tok < 0 || tok >= c.Codebook() {
				t.Errorf("token %d outside the codebook [0, %d)", tok, c.Codebook())
			}
		}
	}
	other, err := m.GenerateTokens(context.Background(), text, 3, opts, NewGoRNG(10), nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(slices.Concat(other...), slices.Concat(runs[0]...)) {
		t.Error("different seeds gave identical tokens")
	}
	// RandomWeights is deterministic per (seed, name) and differs by seed.
	e1, _, _ := RandomSource(c, 1)
	e2, _, _ := RandomSource(c, 2)
	a, _, _ := e1.Float32("layers.0.glu.fc0.weight")
	b, _, _ := e1.Float32("layers.0.glu.fc0.weight")
	d, _, _ := e2.Float32("layers.0.glu.fc0.weight")
	if !slices.Equal(a, b) || slices.Equal(a, d) {
		t.Error("RandomWeights not deterministic per seed")
	}
}

// serialKernel computes attention (KeyValid and Causal masks only) on one
// goroutine with a reused score row, so that it never allocates and an
// allocation count of Step measures the decoder alone.
type serialKernel struct{ s []float32 }

func (*serialKernel) Name() string { return "serial-test" }

func (k *serialKernel) Forward(a *attention.Args) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if cap(k.s) < a.KVLen {
		k.s = make([]float32, a.KVLen)
	}
	s, scale := k.s[:a.KVLen], a.ScaleOrDefault()
	for b := range a.Batch {
		for h := range a.Heads {
			for i := range a.QLen {
				q := a.Q.Data[b*a.Q.BatchStride+i*a.Q.RowStride+h*a.Q.HeadStride:][:a.HeadDim]
				mx := float32(math.Inf(-1))
				for j := range s {
					kk := a.K.Data[b*a.K.BatchStride+j*a.K.RowStride+h*a.K.HeadStride:][:a.HeadDim]
					var dot float32
					for c := range q {
						dot += q[c] * kk[c]
					}
					s[j] = dot * scale
					if a.Mask.KeyValid != nil && !a.Mask.KeyValid[b*a.KVLen+j] {
						s[j] += attention.MaskBias
					}
					if a.Mask.Causal && j > i+a.Mask.CausalOffset {
						s[j] += attention.MaskBias
					}
					mx = max(mx, s[j])
				}
				var sum float32
				for j := range s {
					s[j] = float32(math.Exp(float64(s[j] - mx)))
					sum += s[j]
				}
				o := a.Out.Data[b*a.Out.BatchStride+i*a.Out.RowStride+h*a.Out.HeadStride:][:a.HeadDim]
				clear(o)
				for j := range s {
					v := a.V.Data[b*a.V.BatchStride+j*a.V.RowStride+h*a.V.HeadStride:][:a.HeadDim]
					for c := range o {
						o[c] += s[j] / sum * v[c]
					}
				}
			}
		}
	}
	return nil
}

// With a non-allocating attention kernel, a decoder step allocates nothing
// beyond what internal/matmul does (the buffers live in the State), and its
// logits equal Plain's.
func TestStepAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are random under the race detector (sync.Pool drops items)")
	}
	c := small()
	m := smallModel(t, c, 2)
	text := smallText(c)
	state, err := m.Encoder.Forward(text)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := m.Decoder.NewState(state, text, 2)
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.Decoder.NewState(state, text, 2)
	if err != nil {
		t.Fatal(err)
	}
	prev := []int{c.ImageBOS, 3}
	var want []float32
	for i := range 3 {
		l, err := m.Decoder.Step(plain, prev, i)
		if err != nil {
			t.Fatal(err)
		}
		want = slices.Clone(l)
	}
	m.Decoder.Kernel = &serialKernel{}
	// One thread, so that matmul runs inline instead of starting workers.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	i := 0
	var got []float32
	allocs := testing.AllocsPerRun(2, func() { // 3 calls: one warm-up + 2
		got, err = m.Decoder.Step(st, prev, i)
		if err != nil {
			t.Fatal(err)
		}
		i++
	})
	got = slices.Clone(got)
	// internal/matmul may allocate scratch per call; replay the step's
	// matrix products alone and require Step to add nothing on top.
	R, d := 2*st.n, m.Decoder
	mm := testing.AllocsPerRun(2, func() {
		for l := range d.layers {
			ly := &d.layers[l]
			ly.self.qkv.Forward(st.qkv, st.x, R)
			for _, lin := range []*matmul.Linear{ly.self.o, ly.cross.q, ly.cross.o} {
				lin.Forward(st.h, st.x, R)
			}
			ly.glu.fc01.Forward(st.glu.wv, st.glu.z, R)
			ly.glu.fc2.Forward(st.glu.z, st.glu.w, R)
		}
		d.lmHead.Forward(st.logits, st.h, R)
	})
	t.Logf("allocations per Step: %.0f; of them in internal/matmul: %.0f", allocs, mm)
	if allocs > mm {
		t.Errorf("Step allocates %.0f times per call, its matrix products alone %.0f", allocs, mm)
	}
	if d, s := maxDiff(got, want); d > 1e-5*s {
		t.Errorf("serial kernel logits differ from Plain's by %g", d)
	}
}

func TestSamplerSemantics(t *testing.T) {
	const W, n = 50, 2
	s, err := NewSampler(W)
	if err != nil {
		t.Fatal(err)
	}
	rowLen := W + 3
	logits := make([]float32, 2*n*rowLen)
	rng := NewGoRNG(3)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)*1.7)) * 3
	}
	// Columns ≥ W are never sampled, however large.
	for r := range 2 * n {
		logits[r*rowLen+W] = 100
	}
	mixArgmax := func(f float32) []int {
		out := make([]int, n)
		for b := range n {
			best, bv := 0, float32(math.Inf(-1))
			for j := range W {
				v := float32(logits[b*rowLen+j]*(1-f)) + float32(logits[(n+b)*rowLen+j]*f)
				if v > bv {
					best, bv = j, v
				}
			}
			out[b] = best
		}
		return out
	}
	for _, f := range []float32{0, 1, 16} {
		got := make([]int, n)
		for range 20 {
			// top_k = 1 keeps only the maximum of the mixed logits.
			if err := s.Sample(got, logits, rowLen, SampleOptions{Temperature: 1, TopK: 1, Supercondition: f}, rng); err != nil {
				t.Fatal(err)
			}
			if want := mixArgmax(f); !slices.Equal(got, want) {
				t.Errorf("f=%g top_k=1: %v, want the argmax %v", f, got, want)
			}
		}
	}
	// Ties at the threshold are all kept: three equal maxima with k = 1.
	tie := make([]float32, 2*rowLen)
	for _, j := range []int{4, 9, 30} {
		tie[rowLen+j] = 5 // conditioned row; f = 1
	}
	seen := map[int]bool{}
	got := make([]int, 1)
	for range 200 {
		if err := s.Sample(got, tie, rowLen, SampleOptions{Temperature: 1, TopK: 1, Supercondition: 1}, rng); err != nil {
			t.Fatal(err)
		}
		seen[got[0]] = true
	}
	if len(seen) != 3 || !seen[4] || !seen[9] || !seen[30] {
		t.Errorf("tied maxima sampled: %v, want exactly {4, 9, 30}", seen)
	}
	// top_k = 0 keeps everything: with equal logits every column appears.
	flat := make([]float32, 2*rowLen)
	seen = map[int]bool{}
	for range 2000 {
		if err := s.Sample(got, flat, rowLen, SampleOptions{Temperature: 1, TopK: 0, Supercondition: 16}, rng); err != nil {
			t.Fatal(err)
		}
		seen[got[0]] = true
	}
	if len(seen) != W {
		t.Errorf("top_k=0 on equal logits reached %d of %d columns", len(seen), W)
	}
}

// MT19937's reference output for init_genrand(5489) and the Exp(1) mean.
func TestRNGs(t *testing.T) {
	r := NewTorchRNG(5489)
	if got := r.Uint32(); got != 3499211612 {
		t.Errorf("MT19937(5489) first output %d, want 3499211612", got)
	}
	if a, b := NewTorchRNG(7+1<<32).Uint32(), NewTorchRNG(7).Uint32(); a != b {
		t.Error("TorchRNG does not truncate the seed to 32 bits like torch.manual_seed")
	}
	for _, nz := range []Noise{NewTorchRNG(3), NewGoRNG(3)} {
		e := make([]float32, 100000)
		nz.Exponential(e)
		var sum float64
		for _, v := range e {
			if !(v >= 0) || math.IsInf(float64(v), 0) {
				t.Fatalf("%T: draw %g", nz, v)
			}
			sum += float64(v)
		}
		if mean := sum / float64(len(e)); math.Abs(mean-1) > 0.02 {
			t.Errorf("%T: mean of Exp(1) draws %g", nz, mean)
		}
	}
}

func TestToRGB(t *testing.T) {
	// 1×4 image; channel planes R, G, B.
	r := []float32{-0.5, 0.5, 254.9 / 255, float32(math.NaN())}
	g := []float32{0, 1, 2, 0.99999}
	b := []float32{1.0 / 255, 0.1, 0.2, 0.3}
	img, err := ToRGB(slices.Concat(r, g, b), 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	// Each expected value is uint8(trunc(float32(v)·255)) worked out by hand:
	// 0.5·255 = 127.5 → 127; 0.99961 → 254.9 → 254; 0.99999·255 = 254.997 → 254;
	// float32(1/255)·255 = 1 → 1; 0.1·255 = 25.5 → 25; 0.2 → 51.000004 → 51;
	// float32(0.3)·255 = 76.5 → 76.
	want := []color.RGBA{{0, 0, 1, 255}, {127, 255, 25, 255}, {254, 255, 51, 255}, {0, 254, 76, 255}}
	for x, w := range want {
		if got := img.RGBAAt(x, 0); got != w {
			t.Errorf("pixel %d = %v, want %v", x, got, w)
		}
	}
	if _, err := ToRGB(make([]float32, 5), 1, 2); err == nil {
		t.Error("ToRGB with the wrong length accepted")
	}
	if _, err := ToRGB(nil, 0, 2); err == nil {
		t.Error("ToRGB with a zero size accepted")
	}
	for _, hw := range [][2]int{{1 << 32, 1 << 32}, {1 << 31, 1 << 31}, {1 << 62, 1}} {
		if _, err := ToRGB(nil, hw[0], hw[1]); err == nil {
			t.Errorf("ToRGB with the overflowing size %d×%d accepted", hw[0], hw[1])
		}
	}
}

func TestGridAndTiles(t *testing.T) {
	const g, h, w = 2, 3, 5
	imgs := make([]*image.RGBA, g*g)
	for i := range imgs {
		imgs[i] = image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				imgs[i].SetRGBA(x, y, color.RGBA{uint8(i), uint8(x), uint8(y), 255})
			}
		}
	}
	out, err := Grid(imgs, g)
	if err != nil {
		t.Fatal(err)
	}
	if out.Bounds().Dx() != g*w || out.Bounds().Dy() != g*h {
		t.Fatalf("grid size %v", out.Bounds())
	}
	for i := range imgs {
		a, b := i/g, i%g // column block a, row block b
		for y := range h {
			for x := range w {
				if got, want := out.RGBAAt(a*w+x, b*h+y), (color.RGBA{uint8(i), uint8(x), uint8(y), 255}); got != want {
					t.Fatalf("image %d pixel (%d,%d) = %v, want %v", i, x, y, got, want)
				}
			}
		}
	}
	// Image 1 is below image 0.
	if out.RGBAAt(0, h).R != 1 || out.RGBAAt(w, 0).R != 2 {
		t.Error("grid is not column-major")
	}
	if _, err := Grid(imgs[:3], g); err == nil {
		t.Error("Grid with 3 images for 2×2 accepted")
	}
	imgs[3] = image.NewRGBA(image.Rect(0, 0, w+1, h))
	if _, err := Grid(imgs, g); err == nil {
		t.Error("Grid with unequal sizes accepted")
	}

	// Token maps 2×2 each: map i holds 10·i + position.
	maps := [][]int{{0, 1, 2, 3}, {10, 11, 12, 13}, {20, 21, 22, 23}, {30, 31, 32, 33}}
	tiled, err := TileTokens(maps, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{
		0, 1, 20, 21,
		2, 3, 22, 23,
		10, 11, 30, 31,
		12, 13, 32, 33,
	}
	if !slices.Equal(tiled, want) {
		t.Errorf("TileTokens = %v, want %v", tiled, want)
	}
	if _, err := TileTokens(maps, 2, 3); err == nil {
		t.Error("TileTokens with the wrong side accepted")
	}
	// Sizes whose products overflow are errors, not panics or empty maps.
	if _, err := Grid(nil, 1<<32); err == nil {
		t.Error("Grid(nil, 2^32) accepted")
	}
	if _, err := TileTokens(nil, 1<<32, 1); err == nil {
		t.Error("TileTokens(nil, 2^32, 1) accepted")
	}
	if _, err := TileTokens([][]int{nil}, 1, 1<<32); err == nil {
		t.Error("TileTokens side 2^32 accepted")
	}
}

// ExampleSampler_Sample mixes one unconditioned and one conditioned row with
// supercondition factor 2 (m = −u + 2c), keeps the top 2 and divides by
// noise: column 2 has the largest mix (4) but column 1 (mix 3) wins because
// its Exp(1) draw is much smaller.
func ExampleSampler_Sample() {
	logits := []float32{
		1, 1, 0, 0, // unconditioned
		1, 2, 2, 0, // conditioned
	}
	s, _ := NewSampler(4)
	tok := make([]int, 1)
	noise := &fixedNoise{e: []float32{1, 0.05, 1, 1}}
	err := s.Sample(tok, logits, 4, SampleOptions{Temperature: 1, TopK: 2, Supercondition: 2}, noise)
	fmt.Println(tok[0], err)
	// Output: 1 <nil>
}

func FuzzSample(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 1, float32(1), float32(16))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0}, 0, float32(0.5), float32(0))
	f.Add([]byte{255, 128, 7, 0}, 9, float32(-1), float32(3))
	f.Fuzz(func(t *testing.T, raw []byte, k int, temp, sc float32) {
		const W, rowLen = 4, 5
		n := max(1, len(raw)/(2*rowLen))
		logits := make([]float32, 2*n*rowLen)
		for i := range logits {
			if len(raw) > 0 {
				logits[i] = float32(int(raw[i%len(raw)])-128) / 16
			}
		}
		s, _ := NewSampler(W)
		tok := make([]int, n)
		err := s.Sample(tok, logits, rowLen, SampleOptions{Temperature: temp, TopK: k, Supercondition: sc}, NewGoRNG(1))
		if err != nil {
			return
		}
		for _, v := range tok {
			if v < 0 || v >= W {
				t.Fatalf("token %d outside [0, %d)", v, W)
			}
		}
	})
}

// MemSource.Set refuses a shape whose element count overflows (it used to
// wrap to 0 and store a shape with no data), and a zero MemSource is usable.
func TestMemSourceSet(t *testing.T) {
	s := NewMemSource()
	for _, shape := range [][]int{{1 << 32, 1 << 32}, {1 << 62, 4}, {-1, -1}} {
		if err := s.Set("x", nil, shape...); err == nil {
			t.Errorf("Set(nil, %v) accepted", shape)
		}
	}
	if s.Has("x") {
		t.Error("a refused tensor was stored")
	}
	var z MemSource
	if err := z.Set("x", []float32{1, 2}, 2); err != nil {
		t.Fatal(err)
	}
	if d, sh, err := z.Float32("x"); err != nil || len(d) != 2 || !slices.Equal(sh, []int{2}) {
		t.Errorf("zero MemSource: %v %v %v", d, sh, err)
	}
}
