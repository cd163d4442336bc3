package model

import (
	"context"
	"math"
	"slices"
	"testing"
)

// TestAddLogLik checks one step against log-probabilities written out by
// hand, the (2n, rowLen) row layout and the refusals.
func TestAddLogLik(t *testing.T) {
	// n = 2 images, rowLen 4 (the last column is beyond width 3).
	logits := []float32{
		0, 0, 0, 99, // uncond image 0: uniform over 3
		1, 2, 3, 99, // uncond image 1
		0, 1000, 0, 99, // cond image 0: token 1 certain
		3, 2, 1, 99, // cond image 1
	}
	dst := []LogLik{{Cond: 1, Uncond: 2}, {}}
	if err := AddLogLik(dst, logits, 4, 3, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	lse := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
	want := []LogLik{
		{Cond: 1 + 0, Uncond: 2 - math.Log(3)},
		{Cond: 1 - lse, Uncond: 3 - lse},
	}
	for b := range want {
		if math.Abs(dst[b].Cond-want[b].Cond) > 1e-12 || math.Abs(dst[b].Uncond-want[b].Uncond) > 1e-12 {
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
		if err := AddLogLik(make([]LogLik, c.dst), logits, c.rowLen, c.width, c.chosen); err == nil {
			t.Errorf("AddLogLik(%+v) accepted", c)
		}
	}
}

// TestGenerateTokensScored: the scored generation samples the same tokens
// as GenerateTokens, and each image's LogLik is the sum of its steps'
// log-probabilities recomputed from Decoder.Step fed the sampled tokens.
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
	toks, ll, err := m.GenerateTokensScored(ctx, text, n, opts, NewGoRNG(9), nil)
	if err != nil {
		t.Fatal(err)
	}
	for b := range n {
		if !slices.Equal(toks[b], plain[b]) {
			t.Fatalf("image %d: scored tokens %v, plain %v", b, toks[b], plain[b])
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
	want := make([]LogLik, n)
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
			for h, row := range [][]float32{logits[b*L : b*L+W], logits[(n+b)*L : (n+b)*L+W]} {
				var z float64
				for _, v := range row {
					z += math.Exp(float64(v))
				}
				lp := float64(row[tok]) - math.Log(z)
				if h == 0 {
					want[b].Uncond += lp
				} else {
					want[b].Cond += lp
				}
			}
			prev[b] = tok
		}
	}
	for b := range n {
		if math.Abs(ll[b].Cond-want[b].Cond) > 1e-9*math.Abs(want[b].Cond)+1e-9 ||
			math.Abs(ll[b].Uncond-want[b].Uncond) > 1e-9*math.Abs(want[b].Uncond)+1e-9 {
			t.Errorf("image %d: %+v, recomputed %+v", b, ll[b], want[b])
		}
		if !(ll[b].Cond < 0) || !(ll[b].Uncond < 0) {
			t.Errorf("image %d: log-likelihoods %+v should be negative", b, ll[b])
		}
	}
	if _, _, err := m.GenerateTokensScored(ctx, text, 0, opts, NewGoRNG(9), nil); err == nil {
		t.Error("GenerateTokensScored(n=0) accepted")
	}
}
