package model

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tessella-ml/tessella/attention"
)

// AttentionProbs times V equals the float64 reference kernel's output, with
// padding, causal and user biases, and every row sums to 1.
func TestAttentionProbsMatchesReference(t *testing.T) {
	const B, H, N, M, D = 2, 3, 5, 7, 4
	r := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	op := func(d []float32, rows int) attention.Operand {
		return attention.Operand{Data: d, BatchStride: rows * H * D, RowStride: H * D, HeadStride: D}
	}
	valid := make([]bool, B*M)
	for i := range valid {
		valid[i] = i%M != 3 // key 3 padded in every batch
	}
	bias := fill(H * N * M)
	for _, mask := range []attention.Mask{
		{},
		{KeyValid: valid},
		{KeyValid: valid, Causal: true, CausalOffset: 2},
		{Bias: bias, BiasBatchStride: 0, BiasHeadStride: N * M},
	} {
		q, k, v := fill(B*N*H*D), fill(B*M*H*D), fill(B*M*H*D)
		out := make([]float32, B*N*H*D)
		a := attention.Args{Batch: B, Heads: H, QLen: N, KVLen: M, HeadDim: D,
			Q: op(q, N), K: op(k, M), V: op(v, M), Out: op(out, N), Mask: mask}
		if err := (attention.Reference{}).Forward(&a); err != nil {
			t.Fatal(err)
		}
		p, err := AttentionProbs(&a)
		if err != nil {
			t.Fatal(err)
		}
		for b := range B {
			for h := range H {
				for i := range N {
					row := p.Row(b, h, i)
					var sum float64
					for j, pj := range row {
						sum += float64(pj)
						masked := (mask.KeyValid != nil && !valid[b*M+j]) || (mask.Causal && j > i+mask.CausalOffset)
						if masked && pj != 0 {
							t.Fatalf("mask %+v: masked key %d of row (%d,%d,%d) has %g", mask, j, b, h, i, pj)
						}
					}
					if math.Abs(sum-1) > 1e-6 {
						t.Fatalf("row (%d,%d,%d) sums to %g", b, h, i, sum)
					}
					for c := range D {
						var o float64
						for j, pj := range row {
							o += float64(pj) * float64(v[(b*M+j)*H*D+h*D+c])
						}
						if got := out[(b*N+i)*H*D+h*D+c]; math.Abs(o-float64(got)) > 1e-5 {
							t.Fatalf("mask %+v: (P·V)[%d,%d,%d,%d] = %g, reference %g", mask, b, i, h, c, o, got)
						}
					}
				}
			}
		}
	}
	if _, err := AttentionProbs(&attention.Args{}); err == nil {
		t.Error("empty args accepted")
	}
}

// countingTracer records the shapes it is called with.
type countingTracer struct {
	enc, self, cross, steps int
	t                       *testing.T
	cfg                     Config
	n                       int
	tokens                  []int
}

func (c *countingTracer) EncoderAttention(layer int, p Probs) {
	c.enc++
	if p.Batch != 2 || p.Heads != c.cfg.Heads || p.QLen != c.cfg.TextLen || p.KVLen != c.cfg.TextLen {
		c.t.Errorf("encoder layer %d: probs %d×%d×%d×%d", layer, p.Batch, p.Heads, p.QLen, p.KVLen)
	}
}

func (c *countingTracer) DecoderSelfAttention(step, layer int, p Probs) {
	c.self++
	if p.Batch != 2*c.n || p.QLen != 1 || p.KVLen != step+1 {
		c.t.Errorf("decoder self step %d: probs %d×%d×%d×%d", step, p.Batch, p.Heads, p.QLen, p.KVLen)
	}
}

func (c *countingTracer) CrossAttention(step, layer int, p Probs) {
	c.cross++
	if p.Batch != 2*c.n || p.QLen != 1 || p.KVLen != c.cfg.TextLen {
		c.t.Errorf("cross step %d: probs %d×%d×%d×%d", step, p.Batch, p.Heads, p.QLen, p.KVLen)
	}
	// The unconditioned rows see only BOS and EOS (keys 0 and 1).
	for h := range p.Heads {
		if r := p.Row(0, h, 0); r[0]+r[1] < 1-1e-6 {
			c.t.Errorf("cross step %d: unconditioned row gives padding weight %g", step, 1-r[0]-r[1])
		}
	}
}

func (c *countingTracer) Step(step int, info []StepInfo) {
	c.steps++
	if len(info) != c.n {
		c.t.Errorf("step %d: %d infos for %d images", step, len(info), c.n)
	}
	c.tokens = append(c.tokens, info[0].Token)
}

// A traced run calls the tracer once per layer and step, with the shapes
// documented on Tracer, and samples exactly the untraced tokens.
func TestTracerCalls(t *testing.T) {
	c := small()
	m := smallModel(t, c, 5)
	text := smallText(c)
	opts := SampleOptions{Temperature: 1, TopK: 5, Supercondition: 4}
	plain, err := m.GenerateTokens(context.Background(), text, 2, opts, NewGoRNG(3), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &countingTracer{t: t, cfg: c, n: 2}
	m.SetTracer(tr)
	traced, err := m.GenerateTokens(context.Background(), text, 2, opts, NewGoRNG(3), nil)
	m.SetTracer(nil)
	if err != nil {
		t.Fatal(err)
	}
	for b := range plain {
		if !slices.Equal(plain[b], traced[b]) {
			t.Errorf("image %d: tracing changed the tokens", b)
		}
	}
	L, S := c.DecoderLayers, c.ImageTokens
	if tr.enc != c.EncoderLayers || tr.self != L*S || tr.cross != L*S || tr.steps != S {
		t.Errorf("tracer calls: encoder %d, self %d, cross %d, steps %d; want %d, %d, %d, %d",
			tr.enc, tr.self, tr.cross, tr.steps, c.EncoderLayers, L*S, L*S, S)
	}
	if !slices.Equal(tr.tokens, traced[0]) {
		t.Error("StepInfo tokens differ from the sampled ones")
	}
}

func TestStepInfos(t *testing.T) {
	// One image, 6 logits; f = 2: m = 2·cond − uncond = [1, 4, 4, 0, 3, −2].
	logits := []float32{
		1, 0, 2, 0, 1, 2, // unconditioned
		1, 2, 3, 0, 2, 0, // conditioned
	}
	info, err := StepInfos(logits, 6, 6, SampleOptions{Temperature: 1, TopK: 3, Supercondition: 2}, []int{4})
	if err != nil {
		t.Fatal(err)
	}
	s := info[0]
	// Top-3 threshold 3 keeps m ∈ {4, 4, 3}: weights 1, 1, e^−1.
	z := 2 + math.Exp(-1)
	if s.Kept != 3 || s.Rank != 2 || s.Token != 4 {
		t.Errorf("kept %d rank %d token %d, want 3, 2, 4", s.Kept, s.Rank, s.Token)
	}
	if want := math.Exp(-1) / z; math.Abs(float64(s.Prob)-want) > 1e-6 {
		t.Errorf("p(token) = %g, want %g", s.Prob, want)
	}
	wantH := -(2*(1/z)*math.Log(1/z) + (math.Exp(-1)/z)*math.Log(math.Exp(-1)/z))
	if math.Abs(s.Entropy-wantH) > 1e-6 {
		t.Errorf("entropy %g, want %g", s.Entropy, wantH)
	}
	if s.Top[0].Token != 1 || s.Top[1].Token != 2 || s.Top[2].Token != 4 || s.Top[3].Prob != 0 {
		t.Errorf("top %v", s.Top[:4])
	}
	for _, bad := range []struct {
		logits []float32
		width  int
		chosen []int
	}{
		{logits, 6, nil}, {logits[:11], 6, []int{0}}, {logits, 7, []int{0}}, {logits, 6, []int{6}},
	} {
		if _, err := StepInfos(bad.logits, 6, bad.width, SampleOptions{Temperature: 1}, bad.chosen); err == nil {
			t.Errorf("bad input %v accepted", bad)
		}
	}
}
