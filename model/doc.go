// Package model is the min-dalle text-to-image transformer in plain Go: the
// BART-style encoder, the decoder run one image token at a time with a KV
// cache, min-dalle's supercondition sampler with its random number
// generators, and the glue from text ids to image tokens and pixels. The
// VQGAN detokenizer lives in package model/vqgan; weights come from a Source
// (package weights reads files). Facts and names follow
// /work/shared/mindalle-spec.md §2–§8.
//
// Notation: E width, H heads, D = E/H, G GLU width, T text length (64),
// Vt text vocabulary, Vi image vocabulary (lm_head has Vi+1 rows), C the
// sampled codebook size (VQGAN codebook, ≤ Vi+1), S image tokens (256),
// n images, all tensors row-major float32. Linear layers have no bias and
// compute y = x·Wᵀ with W (out, in) as stored (internal/matmul). LayerNorm is
// LN(x) = (x − mean)/√(var + 1e-5)·w + b over the last dimension with the
// biased variance; a missing LayerNorm weight loads as 1, a missing bias as
// 0. GELU is the erf form 0.5·x·(1 + erf(x/√2)) (nn.GELU's default, not the
// tanh one); on AVX-512 machines erf is a float32 approximation within
// 3e-7·(1+|x|) relative, as PyTorch's own vectorised erf (internal/vec's
// GELUMul).
//
// Attention (attention.Kernel; attention.Auto, the measured-best kernel per shape, by default), per head h:
//
//	Attn(x_q, x_kv) = concat_h softmax(Q_h·K_hᵀ/√D + bias)·V_h · Woᵀ
//	Q = x_q·Wqᵀ, K = x_kv·Wkᵀ, V = x_kv·Wvᵀ,  bias = −1e12 on masked keys
//
// GLU(x) = LN1(GELU(z·fc0ᵀ) ⊙ (z·fc1ᵀ))·fc2ᵀ with z = LN0(x), fc0 and fc1
// (G, E), fc2 (E, G), LN1 over G.
//
// Encoder (Encoder.Forward), text ids (2, T) → state (2, T, E); row 0 is the
// empty prompt, row 1 the prompt; key j is masked iff its id is TextPad (1):
//
//	x = LN_emb(embed_tokens[id] + embed_positions[t])        (2, T, E), t from 0, no scale
//	per layer: x = x + LN_self(Attn(LN_pre(x), LN_pre(x)))   "sandwich" norms
//	           x = x + GLU(x)
//	state = LN_final(x)
//
// Decoder step i (Decoder.Step), 2n rows: rows 0..n−1 unconditioned (encoder
// row 0), rows n..2n−1 conditioned (encoder row 1); prev (n) is the token
// sampled at step i−1 (ImageBOS = 16383 at step 0), fed to both rows:
//
//	x = LN_emb(embed_tokens[prev] + embed_positions[i])           (2n, E)
//	per layer:
//	  h = LN_pre_self(x); cacheK[i] = h·Wkᵀ; cacheV[i] = h·Wvᵀ      cache (S, 2n, E)
//	  x = x + LN_self(softmax(q·cacheK[0..i]ᵀ/√D)·cacheV[0..i]·Woᵀ)
//	  x = x + LN_cross(Attn(LN_pre_cross(x), encoder state row))    K/V (2, T, E) computed once per prompt
//	  x = x + GLU(x)
//	logits = LN_final(x)·lm_headᵀ                                  (2n, Vi+1)
//
// Attending to slots 0..i equals min-dalle's attention over all S slots with
// −1e12 on the future ones (their softmax weights are exactly 0), and
// caching the cross-attention K/V equals min-dalle recomputing them.
//
// Sampler (Sampler.Sample), per image b over the first C logits, float32:
//
//	m    = l[b]·(1 − f) + l[n+b]·f                  supercondition factor f, |f| ≤ 1e6
//	keep = m >= sort_desc(m)[k−1]                   k = 0 keeps all (index −1 = min)
//	w    = exp((m − max m)/T) · keep                temperature T > 0
//	tok  = argmax_j w[j]/E[j],  E ~ Exp(1)           first maximum wins
//
// The last line is what torch.multinomial(w, 1) computes on CPU. TorchRNG
// reproduces torch.manual_seed(s) followed by exponential_ bit for bit
// (MT19937, two 32-bit words per 53-bit uniform u, E = float32(−log(1−u))),
// so seeded runs give min-dalle's tokens; GoRNG is math/rand/v2's PCG.
//
// Memory: the cache is 2·L·2n·S·E floats (48 MiB for DALL·E Mini, n = 1),
// cross K/V 2·L·2·T·E. Step allocates nothing itself (its buffers live in
// the State); the attention kernel and internal/matmul may (Plain starts
// goroutines and allocates a score row per goroutine).
package model
