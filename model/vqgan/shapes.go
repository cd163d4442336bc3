package vqgan

import (
	"fmt"
	"slices"
)

// Shapes lists the state-dict names and shapes of a VQGAN of config cfg
// (min-dalle's names), e.g. to make random weights. It is written apart
// from New, and the tests check the two agree.
func Shapes(cfg Config) map[string][]int {
	p := map[string][]int{}
	conv := func(name string, in, out, k int) {
		p[name+".weight"] = []int{out, in, k, k}
		p[name+".bias"] = []int{out}
	}
	norm := func(name string, c int) {
		p[name+".weight"] = []int{c}
		p[name+".bias"] = []int{c}
	}
	res := func(name string, in, out int) {
		norm(name+".norm1", in)
		conv(name+".conv1", in, out, 3)
		norm(name+".norm2", out)
		conv(name+".conv2", out, out, 3)
		if in != out {
			conv(name+".nin_shortcut", in, out, 1)
		}
	}
	attn := func(name string, c int) {
		norm(name+".norm", c)
		for _, s := range []string{"q", "k", "v", "proj_out"} {
			conv(name+"."+s, c, c, 1)
		}
	}
	L := len(cfg.ChannelMult)
	ch := func(i int) int { return cfg.Base * cfg.ChannelMult[i] }
	p["embedding.weight"] = []int{cfg.Codebook, cfg.CodeDim}
	conv("post_quant_conv", cfg.CodeDim, cfg.CodeDim, 1)
	conv("decoder.conv_in", cfg.CodeDim, ch(L-1), 3)
	res("decoder.mid.block_1", ch(L-1), ch(L-1))
	attn("decoder.mid.attn_1", ch(L-1))
	res("decoder.mid.block_2", ch(L-1), ch(L-1))
	for i := range L {
		in := ch(min(i+1, L-1))
		for j := range cfg.ResBlocks {
			res(fmt.Sprintf("decoder.up.%d.block.%d", i, j), in, ch(i))
			in = ch(i)
			if slices.Contains(cfg.AttnLevels, i) {
				attn(fmt.Sprintf("decoder.up.%d.attn.%d", i, j), ch(i))
			}
		}
		if i > 0 {
			conv(fmt.Sprintf("decoder.up.%d.upsample.conv", i), ch(i), ch(i), 3)
		}
	}
	norm("decoder.norm_out", ch(0))
	conv("decoder.conv_out", ch(0), 3, 3)
	return p
}
