package vqgan

import (
	"fmt"
	"slices"

	"github.com/tessella-ml/tessella/internal/size"
)

// maxChannels bounds a level's channels and the code width so that a 3×3
// convolution's 9·ch·ch weights fit in a 64-bit int.
const maxChannels = 1 << 29

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

// MaxLevels is the most levels (len(ChannelMult)) Validate accepts, so
// that Upscale, 2^(levels−1), is at most 2^30 and fits every int.
const MaxLevels = 31

// Upscale is the side length in pixels of one token: 2^(levels−1). It is 0
// for a config Validate refuses for its number of levels (none, or more
// than MaxLevels).
func (c Config) Upscale() int {
	if len(c.ChannelMult) == 0 || len(c.ChannelMult) > MaxLevels {
		return 0
	}
	return 1 << (len(c.ChannelMult) - 1)
}

// Validate checks that the numbers describe a buildable network.
func (c Config) Validate() error {
	switch {
	case c.Codebook <= 0 || c.CodeDim <= 0 || c.Base <= 0:
		return fmt.Errorf("vqgan config: codebook %d, code dim %d and base %d must be positive", c.Codebook, c.CodeDim, c.Base)
	case c.CodeDim > maxChannels || !size.Fits(c.Codebook, c.CodeDim):
		return fmt.Errorf("vqgan config: codebook %d × code dim %d is too large", c.Codebook, c.CodeDim)
	case len(c.ChannelMult) == 0:
		return fmt.Errorf("vqgan config: no levels")
	case len(c.ChannelMult) > MaxLevels:
		return fmt.Errorf("vqgan config: %d levels, at most %d (an upscale of 2^%d)", len(c.ChannelMult), MaxLevels, MaxLevels-1)
	case c.ResBlocks <= 0:
		return fmt.Errorf("vqgan config: res blocks %d must be positive", c.ResBlocks)
	case c.Groups <= 0:
		return fmt.Errorf("vqgan config: groups %d must be positive", c.Groups)
	case !(c.Eps >= 0): // also rejects NaN
		return fmt.Errorf("vqgan config: GroupNorm eps %g must be non-negative", c.Eps)
	}
	for i, m := range c.ChannelMult {
		// A 3×3 convolution between two levels holds 9·ch² weights; each
		// level's ch = Base·m, at most maxChannels, so the count fits.
		if ch, ok := size.Mul(c.Base, m); m > 0 && (!ok || ch > maxChannels) {
			return fmt.Errorf("vqgan config: level %d has base %d × %d channels, more than %d", i, c.Base, m, maxChannels)
		}
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

// MulAdds counts the multiply-adds of one Decode of a rows × cols token map
// (convolutions and the two attention products; normalisation, swish and
// softmax are not counted). FLOPs ≈ 2·MulAdds. It assumes a valid config.
func (c Config) MulAdds(rows, cols int) int64 {
	L := len(c.ChannelMult)
	ch := func(i int) int64 { return int64(c.Base * c.ChannelMult[i]) }
	n := int64(rows * cols) // positions at the current level
	d, top := int64(c.CodeDim), ch(L-1)
	res := func(in, out int64) int64 {
		s := 9*in*out + 9*out*out
		if in != out {
			s += in * out
		}
		return s * n
	}
	attn := func(ch int64) int64 { return 4*ch*ch*n + 2*ch*n*n }
	total := d*d*n + 9*d*top*n // post_quant_conv, conv_in
	total += 2*res(top, top) + attn(top)
	for i := L - 1; i >= 0; i-- {
		in := top
		if i < L-1 {
			in = ch(i + 1)
		}
		for range c.ResBlocks {
			total += res(in, ch(i))
			in = ch(i)
			if slices.Contains(c.AttnLevels, i) {
				total += attn(ch(i))
			}
		}
		if i > 0 {
			n *= 4
			total += 9 * ch(i) * ch(i) * n
		}
	}
	return total + 9*ch(0)*3*n // conv_out
}
