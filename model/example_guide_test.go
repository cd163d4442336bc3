package model

// Examples quoted by docs/guide.md: their // Output blocks are the guide's
// numbers, so the guide cannot drift from the code.

import (
	"fmt"
	"math"

	"github.com/tessella-ml/tessella/attention"
	"github.com/tessella-ml/tessella/internal/vec"
	"github.com/tessella-ml/tessella/model/vqgan"
)

// LayerNorm of one row (layerNorm.forward): mean 2.5, biased variance 1.25.
func Example_layerNorm() {
	x := []float32{1, 2, 3, 4}
	y := make([]float32, 4)
	ln := layerNorm{w: []float32{1, 1, 1, 1}, b: []float32{0, 0, 0, 0}, eps: 1e-5}
	ln.forward(y, x)
	fmt.Printf("LN(x)         = %.5f\n", y)
	affine := layerNorm{w: []float32{1, 0.5, 2, 1}, b: []float32{0, 0, 0, 10}, eps: 1e-5}
	affine.forward(y, x)
	fmt.Printf("LN(x)·w + b   = %.5f\n", y)
	// Output:
	// LN(x)         = [-1.34164 -0.44721 0.44721 1.34164]
	// LN(x)·w + b   = [-1.34164 -0.22361 0.89442 11.34164]
}

// The exact erf GELU (internal/vec's GELU) next to the tanh approximation
// min-dalle does not use.
func Example_gelu() {
	for _, x := range []float32{-3, -1, -0.5, 0, 0.5, 1, 3} {
		v := float64(x)
		tanh := 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
		fmt.Printf("GELU(%4.1f) = %8.5f   (tanh approximation %8.5f)\n", x, vec.GELU(x), tanh)
	}
	// Output:
	// GELU(-3.0) = -0.00405   (tanh approximation -0.00364)
	// GELU(-1.0) = -0.15866   (tanh approximation -0.15881)
	// GELU(-0.5) = -0.15427   (tanh approximation -0.15429)
	// GELU( 0.0) =  0.00000   (tanh approximation  0.00000)
	// GELU( 0.5) =  0.34573   (tanh approximation  0.34571)
	// GELU( 1.0) =  0.84134   (tanh approximation  0.84119)
	// GELU( 3.0) =  2.99595   (tanh approximation  2.99636)
}

// A softmax row with a padded key (AttentionProbs, the same bias the
// kernels add): the largest raw score, 3, is masked. In float32 3 + (−1e12)
// rounds to −1e12 exactly, and exp(−1e12 − 2) is 0.
func Example_maskedSoftmax() {
	q := []float32{1, 0}                     // one query, D = 2
	k := []float32{2, 0, 1, 0, 0, 0, 3, 0}   // four keys: scores 2, 1, 0, 3
	out := make([]float32, 2)                // not read by AttentionProbs
	valid := []bool{true, true, true, false} // key 3 is padding
	a := attention.Args{Batch: 1, Heads: 1, QLen: 1, KVLen: 4, HeadDim: 2, Scale: 1,
		Q:    attention.Operand{Data: q, RowStride: 2},
		K:    attention.Operand{Data: k, RowStride: 2},
		V:    attention.Operand{Data: k, RowStride: 2},
		Out:  attention.Operand{Data: out, RowStride: 2},
		Mask: attention.Mask{KeyValid: valid}}
	p, err := AttentionProbs(&a)
	fmt.Printf("P = %.5f %v\n", p.Row(0, 0, 0), err)
	fmt.Println("3 + (−1e12) == −1e12 in float32:", float32(3)+attention.MaskBias == attention.MaskBias)
	// Output:
	// P = [0.66524 0.24473 0.09003 0.00000] <nil>
	// 3 + (−1e12) == −1e12 in float32: true
}

// Supercondition and top-k on 6 logits (StepInfos repeats Sampler.Sample's
// arithmetic). f = 2: m = 2·cond − uncond = [2 5 3 3 1 4]. Top-3 keeps
// m ≥ 3, the third largest, so the tie keeps four tokens. Then
// w = exp(m − 5), and the token is argmax w/E with E ~ Exp(1).
func Example_supercondition() {
	uncond := []float32{0, 1, 1, 1, 1, 0}
	cond := []float32{1, 3, 2, 2, 1, 2}
	logits := append(append([]float32{}, uncond...), cond...) // (2n, 6), n = 1
	opts := SampleOptions{Temperature: 1, TopK: 3, Supercondition: 2}

	s, _ := NewSampler(6)
	tok := make([]int, 1)
	// Fixed draws E: w/E = [0 0.5 1.353 0.135 0 0.368], so token 2 wins
	// although token 1 is the most probable.
	_ = s.Sample(tok, logits, 6, opts, &fixedNoise{e: []float32{1, 2, 0.1, 1, 1, 1}})
	info, _ := StepInfos(logits, 6, 6, opts, tok)
	fmt.Printf("kept %d tokens, drew token %d (rank %d, p = %.5f), entropy %.5f nats\n",
		info[0].Kept, info[0].Token, info[0].Rank, info[0].Prob, info[0].Entropy)
	for _, tp := range info[0].Top[:4] {
		fmt.Printf("p(%d) = %.5f\n", tp.Token, tp.Prob)
	}

	// argmax w/E is a draw from p: frequencies over 200,000 draws.
	rng := NewGoRNG(1)
	var count [6]int
	for range 200000 {
		_ = s.Sample(tok, logits, 6, opts, rng)
		count[tok[0]]++
	}
	fmt.Printf("frequencies: %.3f\n", []float64{float64(count[0]) / 2e5, float64(count[1]) / 2e5,
		float64(count[2]) / 2e5, float64(count[3]) / 2e5, float64(count[4]) / 2e5, float64(count[5]) / 2e5})
	// Output:
	// kept 4 tokens, drew token 2 (rank 2, p = 0.08259), entropy 1.04871 nats
	// p(1) = 0.61030
	// p(5) = 0.22452
	// p(2) = 0.08259
	// p(3) = 0.08259
	// frequencies: [0.000 0.612 0.082 0.083 0.000 0.223]
}

// Shapes and sizes of DALL·E Mini and of the planned default model
// (training/default_model.py's TF_CONFIG and VQ_CONFIG; not final: the
// trained model's config.json decides).
func Example_shapes() {
	planned := Config{TextVocab: 64 /* from vocab.json; not counted below */, TextLen: 24, TextPad: 1,
		Width: 256, Heads: 4, GLU: 682, EncoderLayers: 4, DecoderLayers: 4, ImageVocab: 1024, ImageTokens: 256,
		ImageBOS: 1024, LayerNormEps: 1e-5,
		VQGAN: vqgan.Config{Codebook: 1024, CodeDim: 64, Base: 16, ChannelMult: []int{1, 2, 4}, ResBlocks: 1,
			Groups: 8, Eps: 1e-5}}
	for _, m := range []struct {
		name string
		c    Config
	}{{"DALL·E Mini", Mini()}, {"default (planned)", planned}} {
		c := m.c
		E, S, L := c.Width, c.ImageTokens, c.DecoderLayers
		enc, dec := params(EncoderShapes(c)), params(DecoderShapes(c))
		encLayer := int64(4*E*E + 3*E*c.GLU + 6*E + 2*c.GLU)
		px := c.GridSide() * c.VQGAN.Upscale()
		fmt.Printf("%s: E=%d H=%d D=%d G=%d T=%d, S=%d (%d×%d), logits %d\n",
			m.name, E, c.Heads, c.HeadDim(), c.GLU, c.TextLen, S, c.GridSide(), c.GridSide(), c.Logits())
		fmt.Printf("  encoder layer %d params, encoder w/o text embedding %d, decoder %d\n",
			encLayer, enc-int64(c.TextVocab*E), dec)
		fmt.Printf("  KV cache (n=1): 2·L·2n·S·E = %d floats = %.1f MiB\n", 2*L*2*S*E, float64(2*L*2*S*E*4)/(1<<20))
		fmt.Printf("  VQGAN: %d px per token, image %d×%d, %.3g multiply-adds\n",
			c.VQGAN.Upscale(), px, px, float64(c.VQGAN.MulAdds(c.GridSide(), c.GridSide())))
	}
	// Output:
	// DALL·E Mini: E=1024 H=16 D=64 G=2730 T=64, S=256 (16×16), logits 16385
	//   encoder layer 12592468 params, encoder w/o text embedding 151179248, decoder 235313136
	//   KV cache (n=1): 2·L·2n·S·E = 12582912 floats = 48.0 MiB
	//   VQGAN: 16 px per token, image 256×256, 1.26e+11 multiply-adds
	// default (planned): E=256 H=4 D=64 G=682 T=24, S=256 (16×16), logits 1025
	//   encoder layer 788820 params, encoder w/o text embedding 3162448, decoder 4799312
	//   KV cache (n=1): 2·L·2n·S·E = 1048576 floats = 4.0 MiB
	//   VQGAN: 4 px per token, image 64×64, 2.18e+08 multiply-adds
}

func params(shapes map[string][]int) int64 {
	var n int64
	for _, s := range shapes {
		p := int64(1)
		for _, d := range s {
			p *= int64(d)
		}
		n += p
	}
	return n
}
