// Package vqgan is the VQGAN detokenizer of min-dalle's family: it turns a
// map of codebook indices into a raw RGB image, in float32 (min-dalle never
// casts it to a lower precision). Config generalises min-dalle's fixed sizes;
// the state-dict names are min-dalle's, so its weights load unchanged.
//
// # Network, top to bottom (min-dalle's sizes, one 16×16 token map)
//
// Activations are (C, H, W) row-major (PyTorch NCHW for one image). Every
// conv has a bias; 3×3 convs use padding 1, stride 1; weights are OIHW.
//
//	tokens (16·16) int, raster order: token t at row t/16, column t%16
//	embedding.weight (16384, 256)       lookup, channels first  -> (256, 16, 16)
//	post_quant_conv  1×1 256→256                                 -> (256, 16, 16)
//	decoder.conv_in  3×3 256→512                                 -> (512, 16, 16)
//	decoder.mid      block_1 Res 512→512, attn_1 Attn 512, block_2 Res 512→512
//	decoder.up.4     3 × (Res 512→512, Attn 512), upsample 512   -> (512, 32, 32)
//	decoder.up.3     Res 512→256, 2 × Res 256→256, upsample 256  -> (256, 64, 64)
//	decoder.up.2     3 × Res 256→256, upsample 256               -> (256, 128, 128)
//	decoder.up.1     Res 256→128, 2 × Res 128→128, upsample 128  -> (128, 256, 256)
//	decoder.up.0     3 × Res 128→128 (no upsample)               -> (128, 256, 256)
//	decoder.norm_out GroupNorm(32, 128), swish
//	decoder.conv_out 3×3 128→3                                   -> (3, 256, 256)
//
// In Config terms: level i has ch[i] = Base·ChannelMult[i] channels
// (128·[1, 1, 2, 2, 4]); the up levels run from L−1 down to 0; level i's
// first ResBlock maps ch[i+1] (ch[L−1] for the top level) to ch[i]; each of
// the ResBlocks per level (3) is followed by an attention block on the
// AttnLevels ([4]); every level but 0 ends with an upsample, so one token
// becomes U = 2^(L−1) = 16 pixels on a side. 46,709,891 parameters,
// ≈ 1.26·10¹¹ multiply-adds (Config.MulAdds) per 16×16 map.
//
// # Blocks
//
// GroupNorm(G, C) over x (C, N), N = H·W: the channels are split into G
// groups of C/G; for each group the mean μ and the biased variance σ² run
// over its C/G·N values, and
//
//	y[c, p] = (x[c, p] − μ)/√(σ² + ε) · γ[c] + β[c]
//
// with ε = Config.Eps (min-dalle 1e-5). Here μ and σ² are accumulated in
// float64 (two passes); then, as PyTorch's CPU kernel does, each channel
// applies y = x·s + t in float32 with s = γ·rstd and t = β − s·μ.
//
// swish(x) = x·sigmoid(x) = x/(1 + e^(−x)).
//
// ResnetBlock(in → out):
//
//	h = conv1(swish(norm1(x)))          3×3 in → out
//	h = conv2(swish(norm2(h)))          3×3 out → out
//	y = s(x) + h                        s = nin_shortcut (1×1 in → out) if in ≠ out, else identity
//
// AttnBlock(C), single head over the N = H·W positions:
//
//	h = norm(x);  q, k, v = 1×1 convs of h, each (C, N)
//	S[i, j] = Σ_c q[c, i]·k[c, j] / √C          (min-dalle hard-codes C = 512)
//	P[i, :] = softmax_j S[i, :]
//	o[c, i] = Σ_j v[c, j]·P[i, j]
//	y = x + proj_out(o)                          1×1 C → C
//
// Upsample(C): nearest ×2, out[c, y, x] = in[c, ⌊y/2⌋, ⌊x/2⌋], then a 3×3
// conv C → C.
//
// # Output
//
// Decode returns the raw (3, rows·U, cols·U) floats. min-dalle's
// post-processing (clip to [0, 1], ·255 in float32, truncation to uint8,
// column-major grid placement, seamless tiling of the token maps) is the
// caller's: a seamless grid is one Decode of the tiled token map.
//
// # Computation
//
// Convolutions are GEMMs through internal/matmul: a 1×1 conv is
// W (out, in) · x (in, N); a 3×3 conv builds im2col columns
// (in·9, rows·W) for a strip of output rows and multiplies W (out, in·9) by
// them. The strip height is chosen so that the im2col buffer stays within
// VQGAN.ScratchBytes (8 MiB by default: at min-dalle's 256×256, 128-channel
// levels that is 37 strips of ≤ 7 rows instead of one 302 MB buffer; 32 MiB
// strips were not faster, measured on the whole Mini decode).
// Attention computes S a block of query positions at a time within the same
// bound. The im2col and score buffers and the activation buffers are kept in
// a workspace reused across calls, so Decode serialises concurrent callers.
// Goroutines (VQGAN.Threads) run the GEMMs (on a matmul engine limited to
// that many threads), im2col panels of output positions, GroupNorm groups
// and upsample channels.
package vqgan
