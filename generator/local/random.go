package local

import (
	"encoding/json"
	"fmt"

	"github.com/tessella-ml/tessella/model"
	"github.com/tessella-ml/tessella/model/vqgan"
	"github.com/tessella-ml/tessella/tokenizer"
)

// TinyConfig is a small model of the DALL·E family (64×64 images from a
// 16×16 token grid) used when no trained weights are at hand.
func TinyConfig() model.Config {
	return model.Config{TextVocab: 128, TextLen: 64, TextPad: tokenizer.PAD, Width: 128, Heads: 2, GLU: 256,
		EncoderLayers: 2, DecoderLayers: 2, ImageVocab: 1024, ImageTokens: 256, ImageBOS: 1023, LayerNormEps: 1e-5,
		VQGAN: vqgan.Config{Codebook: 1024, CodeDim: 32, Base: 32, ChannelMult: []int{1, 2, 2}, ResBlocks: 1,
			Groups: 8, Eps: 1e-5}}
}

// charTokenizer is a tokenizer without merges: every character is a token.
func charTokenizer() (*tokenizer.Tokenizer, error) {
	vocab := map[string]int{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "Ġ": 4}
	for c := byte('!'); c <= '~'; c++ {
		vocab[string(c)] = len(vocab)
	}
	b, err := json.Marshal(vocab)
	if err != nil {
		return nil, err
	}
	return tokenizer.New(b, []byte("#version: 0.2\n"))
}

// openRandom builds random weights of a named shape in memory.
func (e *Engine) openRandom(name string) error {
	var cfg model.Config
	switch name {
	case "mini-random":
		cfg = model.Mini()
	case "mega-random":
		cfg = model.Mega()
	default:
		cfg = TinyConfig()
		e.defaults.Scale = 4
	}
	tok, err := charTokenizer()
	if err != nil {
		return err
	}
	enc, dec, err := model.RandomSource(cfg, 1)
	if err != nil {
		return err
	}
	vq := model.NewRandomWeights(vqgan.Shapes(cfg.VQGAN), 3)
	m, err := e.newModel(cfg, enc, dec, vq)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	e.name, e.model, e.tok = name, m, tok
	return nil
}
