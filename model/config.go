package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"

	"github.com/tessella-ml/tessella/internal/size"
	"github.com/tessella-ml/tessella/model/vqgan"
)

// Config describes a min-dalle style text-to-image transformer (spec §2).
// The JSON tags let a config.json beside the weights override any field
// (see MergeJSON).
type Config struct {
	TextVocab     int `json:"text_vocab"`     // encoder embedding rows Vt (mini 50264, mega 50272)
	TextLen       int `json:"text_len"`       // text tokens per row T (64)
	TextPad       int `json:"text_pad"`       // padding id; key j is masked iff id == TextPad (1)
	Width         int `json:"width"`          // embed width E
	Heads         int `json:"heads"`          // attention heads H; head width D = E/H
	GLU           int `json:"glu"`            // GLU hidden width G
	EncoderLayers int `json:"encoder_layers"` // L_enc
	DecoderLayers int `json:"decoder_layers"` // L_dec
	// ImageVocab is min-dalle's image_vocab_count Vi: the decoder's
	// embed_tokens and lm_head have Vi+1 rows (mini 16384, mega 16415).
	ImageVocab int `json:"image_vocab"`
	// ImageTokens is the number of image tokens per image (256 = 16×16);
	// it must be a perfect square (the token grid is GridSide² raster order).
	ImageTokens int `json:"image_tokens"`
	// ImageBOS is the token fed at step 0 (min-dalle HEAD: 2^14−1 = 16383).
	ImageBOS int `json:"image_bos"`
	// LayerNormEps is every LayerNorm's ε (1e-5).
	LayerNormEps float32 `json:"layer_norm_eps"`
	// VQGAN is the detokenizer. Only the first VQGAN.Codebook logits of
	// each row are sampled, so sampled tokens are always valid codes.
	VQGAN vqgan.Config `json:"vqgan"`
}

// Mini is DALL·E Mini as min-dalle builds it (is_mega=False).
func Mini() Config {
	return Config{TextVocab: 50264, TextLen: 64, TextPad: 1, Width: 1024, Heads: 16, GLU: 2730,
		EncoderLayers: 12, DecoderLayers: 12, ImageVocab: 16384, ImageTokens: 256, ImageBOS: 16383,
		LayerNormEps: 1e-5, VQGAN: vqgan.MinDalle()}
}

// Mega is DALL·E Mega as min-dalle builds it (is_mega=True).
func Mega() Config {
	return Config{TextVocab: 50272, TextLen: 64, TextPad: 1, Width: 2048, Heads: 32, GLU: 4096,
		EncoderLayers: 24, DecoderLayers: 24, ImageVocab: 16415, ImageTokens: 256, ImageBOS: 16383,
		LayerNormEps: 1e-5, VQGAN: vqgan.MinDalle()}
}

// HeadDim is D = Width / Heads.
func (c Config) HeadDim() int {
	if c.Heads <= 0 {
		return 0
	}
	return c.Width / c.Heads
}

// Logits is the decoder's output width Vi+1 (lm_head rows).
func (c Config) Logits() int { return c.ImageVocab + 1 }

// Codebook is the number of logits that are sampled (VQGAN.Codebook).
func (c Config) Codebook() int { return c.VQGAN.Codebook }

// GridSide is the side of the square token grid: √ImageTokens (16).
func (c Config) GridSide() int { return int(math.Sqrt(float64(c.ImageTokens))) }

// Validate reports the first inconsistency that would make the model
// unbuildable or its sampling ill defined.
func (c Config) Validate() error {
	pos := []struct {
		name string
		v    int
	}{{"text_vocab", c.TextVocab}, {"text_len", c.TextLen}, {"width", c.Width}, {"heads", c.Heads},
		{"glu", c.GLU}, {"encoder_layers", c.EncoderLayers}, {"decoder_layers", c.DecoderLayers},
		{"image_vocab", c.ImageVocab}, {"image_tokens", c.ImageTokens}}
	for _, p := range pos {
		if p.v <= 0 {
			return fmt.Errorf("model config: %s = %d, must be positive", p.name, p.v)
		}
	}
	switch {
	case c.Width%c.Heads != 0:
		return fmt.Errorf("model config: width %d is not a multiple of heads %d", c.Width, c.Heads)
	case c.GridSide()*c.GridSide() != c.ImageTokens:
		return fmt.Errorf("model config: image_tokens %d is not a perfect square", c.ImageTokens)
	case c.ImageBOS < 0 || c.ImageBOS > c.ImageVocab:
		return fmt.Errorf("model config: image_bos %d outside the decoder embedding [0, %d]", c.ImageBOS, c.ImageVocab)
	case c.TextPad < 0 || c.TextPad >= c.TextVocab:
		return fmt.Errorf("model config: text_pad %d outside the text vocabulary [0, %d)", c.TextPad, c.TextVocab)
	case !(c.LayerNormEps > 0) || math.IsInf(float64(c.LayerNormEps), 0):
		return fmt.Errorf("model config: layer_norm_eps %g must be positive and finite", c.LayerNormEps)
	}
	if err := c.VQGAN.Validate(); err != nil {
		return fmt.Errorf("model config: %w", err)
	}
	// The decoded image, (side·upscale)² RGBA pixels, must be addressable.
	if side, up := c.GridSide(), c.VQGAN.Upscale(); !size.Fits(4, side, up, side, up) {
		return fmt.Errorf("model config: a %d×%d token grid at vqgan upscale %d is too many pixels", side, side, up)
	}
	if c.VQGAN.Codebook > c.Logits() {
		return fmt.Errorf("model config: vqgan codebook %d exceeds the decoder's %d logits", c.VQGAN.Codebook, c.Logits())
	}
	return nil
}

// MergeJSON returns base with every field present in data (a config.json
// object using the JSON tags of Config) replaced. Unknown keys are an error,
// so a misspelt field does not pass silently. The result is validated.
func MergeJSON(base Config, data []byte) (Config, error) {
	c := base
	// Deep-copy the slices: json.Unmarshal reuses a slice's backing array.
	c.VQGAN.ChannelMult = slices.Clone(base.VQGAN.ChannelMult)
	c.VQGAN.AttnLevels = slices.Clone(base.VQGAN.AttnLevels)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("model config json: %w", err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("model config json: trailing data after the object")
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// TensorLister lists a checkpoint's tensors without loading them. Package
// weights implements it for its files; MemSource and RandomSource do too.
type TensorLister interface {
	Names() []string
	// Shape returns the tensor's shape and whether it exists.
	Shape(name string) ([]int, bool)
}

var layerIndex = regexp.MustCompile(`^layers\.(\d+)\.`)

// maxLayers returns 1 + the largest layers.{l} index among names.
func maxLayers(names []string) int {
	n := 0
	for _, name := range names {
		if m := layerIndex.FindStringSubmatch(name); m != nil {
			if l, err := strconv.Atoi(m[1]); err == nil && l+1 > n {
				n = l + 1
			}
		}
	}
	return n
}

// InferConfig recognises a min-dalle checkpoint from its encoder and decoder
// tensor names and shapes (spec §3): layer counts from the largest layer
// index, E and T from encoder embed_positions (T, E), Vt from encoder
// embed_tokens, G from layers.0.glu.fc0 (G, E), Vi+1 from decoder
// embed_tokens, ImageTokens from decoder embed_positions, heads = E/64
// (min-dalle's head width). The rest (pad 1, BOS 16383 when it fits, else
// Vi−1, ε 1e-5, the VQGAN) comes from Mini(); override with MergeJSON.
func InferConfig(enc, dec TensorLister) (Config, error) {
	shape := func(part string, l TensorLister, name string, rank int) ([]int, error) {
		s, ok := l.Shape(name)
		if !ok {
			return nil, fmt.Errorf("infer config: %s has no %s", part, name)
		}
		if len(s) != rank {
			return nil, fmt.Errorf("infer config: %s: %s has shape %v, want rank %d", part, name, s, rank)
		}
		return s, nil
	}
	c := Mini()
	ep, err := shape("encoder", enc, "embed_positions.weight", 2)
	if err != nil {
		return Config{}, err
	}
	c.TextLen, c.Width = ep[0], ep[1]
	et, err := shape("encoder", enc, "embed_tokens.weight", 2)
	if err != nil {
		return Config{}, err
	}
	c.TextVocab = et[0]
	fc0, err := shape("encoder", enc, "layers.0.glu.fc0.weight", 2)
	if err != nil {
		return Config{}, err
	}
	c.GLU = fc0[0]
	dt, err := shape("decoder", dec, "embed_tokens.weight", 2)
	if err != nil {
		return Config{}, err
	}
	c.ImageVocab = dt[0] - 1
	dp, err := shape("decoder", dec, "embed_positions.weight", 2)
	if err != nil {
		return Config{}, err
	}
	c.ImageTokens = dp[0]
	c.EncoderLayers = maxLayers(enc.Names())
	c.DecoderLayers = maxLayers(dec.Names())
	c.Heads = c.Width / 64
	if c.Heads == 0 || c.Width%64 != 0 {
		return Config{}, fmt.Errorf("infer config: width %d is not a multiple of min-dalle's head width 64", c.Width)
	}
	if c.ImageBOS > c.ImageVocab {
		c.ImageBOS = c.ImageVocab - 1
	}
	if c.VQGAN.Codebook > c.Logits() {
		c.VQGAN.Codebook = c.ImageVocab
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("infer config: %w", err)
	}
	return c, nil
}
