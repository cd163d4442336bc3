package judge

import (
	"fmt"
	"image"

	"github.com/tessella-ml/tessella/internal/load"
	"github.com/tessella-ml/tessella/internal/vec"
)

// CriticConfig is the critic's architecture; its JSON is the
// "critic.config" metadata that training/train_critic.py writes.
type CriticConfig struct {
	Channels []int `json:"channels"` // C0…C3, the four convolutions' outputs
}

// Validate reports a config the forward pass cannot run.
func (c CriticConfig) Validate() error { return validChannels("critic config", c.Channels) }

// Critic is a loaded critic network (see the package documentation). Its
// methods may be called from one goroutine at a time.
type Critic struct {
	cfg   CriticConfig
	convs [4]conv   // conv_i: (C_i, C_{i−1}, 3, 3) + bias (C_i)
	head  []float32 // (C3): the 1×1 convolution to one flaw logit per cell
	headB float32   // its bias
	pos   []float32 // (8·8): a learned logit per cell, token p = row·8 + col
}

// NewCritic loads a critic of config cfg from src (tensor names without
// the "critic." prefix).
func NewCritic(cfg CriticConfig, src Source) (*Critic, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ld := &loader{load.Reader{Src: src, Part: "critic"}}
	c := &Critic{cfg: cfg, convs: ld.stem(cfg.Channels)}
	c.head = ld.Tensor("head.weight", 1, cfg.Channels[3], 1, 1)
	hb := ld.Tensor("head.bias", 1)
	c.pos = ld.Tensor("pos", 1, 1, grid, grid)
	if ld.Err != nil {
		return nil, ld.Err
	}
	c.headB = hb[0]
	return c, nil
}

// Config returns the critic's configuration.
func (c *Critic) Config() CriticConfig { return c.cfg }

// Score returns the critic's score of a Size×Size image (alpha ignored):
// −log Σ_p exp(f_p), f_p the flaw logit of cell p, in float64. Larger is
// better: an image whose every cell looks like a whole scene's.
func (c *Critic) Score(img *image.RGBA) (float64, error) {
	f, err := c.Flaws(img)
	if err != nil {
		return 0, err
	}
	top, logSum := vec.LogSumExp64(f)
	return -(top + logSum), nil
}

// Flaws returns the critic's flaw logits (8·8), one per cell of the 8×8
// grid (row-major): f_p = head·h_p + head_b + pos_p.
func (c *Critic) Flaws(img *image.RGBA) ([]float32, error) {
	x, err := pixels(img)
	if err != nil {
		return nil, fmt.Errorf("critic: %w", err)
	}
	h := stem(c.convs[:], x)
	c3 := c.cfg.Channels[3]
	f := make([]float32, grid*grid)
	for p := range f {
		s := c.headB + c.pos[p]
		for ch := 0; ch < c3; ch++ {
			s += c.head[ch] * h[ch*grid*grid+p]
		}
		f[p] = s
	}
	return f, nil
}
