package model

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestAppendLogProbs checks one step against log-probabilities written out
// by hand, the (2n, rowLen) row layout and the refusals.
func TestAppendLogProbs(t *testing.T) {
	// n = 2 images, rowLen 4 (the last column is beyond width 3).
	logits := []float32{
		0, 0, 0, 99, // uncond image 0: uniform over 3
		1, 2, 3, 99, // uncond image 1
		0, 1000, 0, 99, // cond image 0: token 1 certain
		3, 2, 1, 99, // cond image 1
	}
	dst := []TokenLogProbs{{Uncond: []float64{8}}, {}}
	if err := AppendLogProbs(dst, logits, 4, 3, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	lse := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
	want := []TokenLogProbs{
		{Uncond: []float64{8, -math.Log(3)}},
		{Uncond: []float64{3 - lse}},
	}
	near := func(a, b []float64) bool {
		return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Abs(x-y) < 1e-12 })
	}
	for b := range want {
		if !near(dst[b].Uncond, want[b].Uncond) {
			t.Errorf("image %d: %+v, want %+v", b, dst[b], want[b])
		}
	}
	for _, c := range []struct {
		dst    int
		rowLen int
		width  int
		chosen []int
	}{
		{1, 4, 3, []int{0, 0}}, // dst too short
		{2, 4, 0, []int{0, 0}}, // no width
		{2, 4, 5, []int{0, 0}}, // width beyond the row
		{2, 3, 3, []int{0, 0}}, // logits not 2·n·rowLen
		{2, 4, 3, []int{0, 3}}, // token beyond width
		{2, 4, 3, []int{-1, 0}},
		{0, 4, 3, nil},
	} {
		d := make([]TokenLogProbs, c.dst)
		if err := AppendLogProbs(d, logits, c.rowLen, c.width, c.chosen); err == nil {
			t.Errorf("AppendLogProbs(%+v) accepted", c)
		}
		for b := range d {
			if len(d[b].Uncond) != 0 {
				t.Errorf("AppendLogProbs(%+v) refused but appended to image %d", c, b)
			}
		}
	}
}

// TestCandidateScore: the sum of the CandidateTail smallest unconditioned
// log-probabilities; fewer steps sum them all; NaN gives NaN.
func TestCandidateScore(t *testing.T) {
	u := make([]float64, 30)
	for i := range u {
		u[i] = -float64((i * 7) % 30) // 0, −7, −14, … a permutation of 0…−29
	}
	want := 0.0
	for v := 20; v < 30; v++ {
		want -= float64(v)
	}
	if got := CandidateScore(TokenLogProbs{Uncond: u}); got != want {
		t.Errorf("score %g, want %g (the 10 smallest: −20 … −29)", got, want)
	}
	if got := CandidateScore(TokenLogProbs{Uncond: []float64{-1, -2}}); got != -3 {
		t.Errorf("two steps: %g, want −3", got)
	}
	if got := CandidateScore(TokenLogProbs{Uncond: []float64{-1, math.NaN()}}); !math.IsNaN(got) {
		t.Errorf("NaN step: %g, want NaN", got)
	}
	if !slices.Equal(u[:3], []float64{0, -7, -14}) {
		t.Error("CandidateScore reordered its input")
	}
}

// TestGenerateTokensScored: the scored generation samples the same tokens
// as GenerateTokens, and each image's log-probabilities are those of its
// tokens recomputed from Decoder.Step fed the sampled tokens.
func TestGenerateTokensScored(t *testing.T) {
	c := small()
	m := smallModel(t, c, 1)
	text := smallText(c)
	ctx := context.Background()
	opts := SampleOptions{Temperature: 1, TopK: 4, Supercondition: 3}
	const n = 3
	plain, err := m.GenerateTokens(ctx, text, n, opts, NewGoRNG(9), nil)
	if err != nil {
		t.Fatal(err)
	}
	toks, lp, err := m.GenerateTokensScored(ctx, text, n, opts, NewGoRNG(9), nil)
	if err != nil {
		t.Fatal(err)
	}
	for b := range n {
		if !slices.Equal(toks[b], plain[b]) {
			t.Fatalf("image %d: scored tokens %v, plain %v", b, toks[b], plain[b])
		}
		if len(lp[b].Uncond) != c.ImageTokens {
			t.Fatalf("image %d: %d log-probabilities, want %d", b, len(lp[b].Uncond), c.ImageTokens)
		}
	}
	// Recompute: replay the tokens through the decoder, log-softmax by hand.
	enc, err := m.Encoder.Forward(text)
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.Decoder.NewState(enc, text, n)
	if err != nil {
		t.Fatal(err)
	}
	prev := make([]int, n)
	for b := range prev {
		prev[b] = c.ImageBOS
	}
	W, L := c.Codebook(), c.Logits()
	for i := range c.ImageTokens {
		logits, err := m.Decoder.Step(st, prev, i)
		if err != nil {
			t.Fatal(err)
		}
		for b := range n {
			tok := toks[b][i]
			row := logits[b*L : b*L+W] // unconditioned row b
			var z float64
			for _, v := range row {
				z += math.Exp(float64(v))
			}
			want := float64(row[tok]) - math.Log(z)
			if got := lp[b].Uncond[i]; math.Abs(got-want) > 1e-9*math.Abs(want)+1e-9 || !(got <= 0) {
				t.Fatalf("image %d step %d: %g, recomputed %g", b, i, got, want)
			}
			prev[b] = tok
		}
	}
	if _, _, err := m.GenerateTokensScored(ctx, text, 0, opts, NewGoRNG(9), nil); err == nil {
		t.Error("GenerateTokensScored(n=0) accepted")
	}
}

// Validate names the option it refuses, as an *OptionError; the options
// are float32, so 1e-300 and 1e308 arrive as 0 and +Inf.
func TestSampleOptionsValidate(t *testing.T) {
	ok := SampleOptions{Temperature: 1, TopK: 8, Supercondition: 1.25}
	if err := ok.Validate(16); err != nil {
		t.Fatal(err)
	}
	for want, o := range map[string]SampleOptions{
		"temperature":    {Temperature: float32(math.Inf(1)), TopK: 8},
		"top_k":          {Temperature: 1, TopK: 17},
		"supercondition": {Temperature: 1, Supercondition: float32(math.NaN())},
	} {
		var oe *OptionError
		if err := o.Validate(16); !errors.As(err, &oe) || oe.Option != want {
			t.Errorf("%+v: %v, want an *OptionError for %s", o, err, want)
		}
	}
	// A finite but huge factor overflows uncond·(1−f) + cond·f for
	// ordinary logits; it is refused, and ±MaxSupercondition is accepted.
	for _, f := range []float32{3e38, -3e38, 2 * MaxSupercondition} {
		var oe *OptionError
		o := SampleOptions{Temperature: 1, Supercondition: f}
		if err := o.Validate(16); !errors.As(err, &oe) || oe.Option != "supercondition" || !strings.Contains(err.Error(), "supercondition") {
			t.Errorf("supercondition %g: %v, want an *OptionError for supercondition", f, err)
		}
	}
	for _, f := range []float32{MaxSupercondition, -MaxSupercondition} {
		if err := (SampleOptions{Temperature: 1, Supercondition: f}).Validate(16); err != nil {
			t.Errorf("supercondition %g refused: %v", f, err)
		}
	}
	// At the bound, logits of magnitude 1e4 mix to finite values and
	// sample an in-range token.
	s, _ := NewSampler(4)
	logits := []float32{-1e4, 1e4, 3, -2, 1e4, -1e4, 2, 5}
	tok := make([]int, 1)
	if err := s.Sample(tok, logits, 4, SampleOptions{Temperature: 1, Supercondition: MaxSupercondition}, NewGoRNG(1)); err != nil || tok[0] != 0 {
		t.Errorf("Sample at the bound: token %d, %v; want token 0 (uncond −1e4, cond 1e4 mixes to the largest)", tok[0], err)
	}
}
