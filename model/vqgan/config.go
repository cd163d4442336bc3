package vqgan

import "fmt"

// Config describes a VQGAN detokenizer of min-dalle's family. min-dalle's
// numbers are MinDalle(); the embedded default model is a smaller member.
type Config struct {
	Codebook int // codebook entries (min-dalle 16384)
	CodeDim  int // code width = post_quant_conv channels (256)
	// ChannelMult gives each level's channels as Base·ChannelMult[i]. Levels
	// run from 0 (full resolution) to len−1 (the token grid); the decoder
	// executes them in reverse order, upsampling ×2 after every level but 0.
	Base        int   // 128
	ChannelMult []int // [1, 1, 2, 2, 4]
	ResBlocks   int   // ResnetBlocks per up level (3)
	// AttnLevels lists the up levels whose ResnetBlocks are each followed by
	// an attention block (min-dalle: [4], the 16×16 level). The middle
	// always has one.
	AttnLevels []int
	Groups     int     // GroupNorm groups (32)
	Eps        float32 // GroupNorm ε (1e-5)
}

// MinDalle is the detokenizer min-dalle ships (spec §8).
func MinDalle() Config {
	return Config{Codebook: 16384, CodeDim: 256, Base: 128, ChannelMult: []int{1, 1, 2, 2, 4},
		ResBlocks: 3, AttnLevels: []int{4}, Groups: 32, Eps: 1e-5}
}

// Upscale is the side length in pixels of one token: 2^(levels−1).
func (c Config) Upscale() int { return 1 << (len(c.ChannelMult) - 1) }

// Validate checks that the numbers describe a buildable network.
func (c Config) Validate() error {
	switch {
	case c.Codebook <= 0 || c.CodeDim <= 0 || c.Base <= 0:
		return fmt.Errorf("vqgan config: codebook %d, code dim %d and base %d must be positive", c.Codebook, c.CodeDim, c.Base)
	case len(c.ChannelMult) == 0:
		return fmt.Errorf("vqgan config: no levels")
	case c.ResBlocks <= 0:
		return fmt.Errorf("vqgan config: res blocks %d must be positive", c.ResBlocks)
	case c.Groups <= 0:
		return fmt.Errorf("vqgan config: groups %d must be positive", c.Groups)
	}
	for i, m := range c.ChannelMult {
		if m <= 0 || (c.Base*m)%c.Groups != 0 {
			return fmt.Errorf("vqgan config: level %d has %d channels, not a positive multiple of %d groups", i, c.Base*m, c.Groups)
		}
	}
	for _, l := range c.AttnLevels {
		if l < 0 || l >= len(c.ChannelMult) {
			return fmt.Errorf("vqgan config: attention level %d out of range", l)
		}
	}
	return nil
}
