// Package judge is a small image-conditioned caption model that ranks
// images against a prompt: given a caption's token row and a 64×64 RGB
// image, Score returns log p(caption | image), the sum of the caption's
// token log-probabilities under a causal text decoder that attends to the
// image. For one caption, the image with the larger score explains it
// better. The default model samples K candidate images per prompt and keeps
// the one the judge scores highest (DALL·E Mini reranks with CLIP the same
// way; this judge is trained by the project, on the training split of
// shapes64 only, by teacher forcing on training captions: training/train_judge.py).
//
// Notation: W width, H heads, D = W/H, M MLP width, L layers, C0…C3 conv
// channels, t caption tokens (pads removed), all tensors row-major float32.
// Linear layers compute y = x·Wᵀ (+ b) with W (out, in) as PyTorch stores it.
// LN is LayerNorm over the last dimension (biased variance, eps 1e-5); GELU
// is the erf form 0.5·x·(1 + erf(x/√2)).
//
// Image → memory (once per image):
//
//	x0 = pixels/255                                  (3, 64, 64)  channels first
//	h  = pool(GELU(conv0(x0)))                       (C0, 32, 32)
//	h  = pool(GELU(conv1(h)))                        (C1, 16, 16)
//	h  = pool(GELU(conv2(h)))                        (C2, 8, 8)
//	h  = GELU(conv3(h))                              (C3, 8, 8)
//	m  = LN_img(hᵀ·img_projᵀ + img_pos)              (64, W)  token p = row·8 + col
//	K_l = m·ckᵀ, V_l = m·cvᵀ for each layer l        (64, W)
//
// conv_i is a 3×3 convolution with zero padding 1 and a bias (weights
// (C_out, C_in, 3, 3)); pool is the mean of each 2×2 block.
//
// Caption → score (per image):
//
//	x = tok_emb[ids] + txt_pos[0:t]                  (t, W)   ids = [BOS, …, EOS]
//	for each layer l:
//	    y = LN1(x);  x += Attn(y·qᵀ, y·kᵀ, y·vᵀ)·oᵀ          causal self-attention: token i sees 0…i
//	    y = LN2(x);  x += Attn(y·cqᵀ, K_l, V_l)·coᵀ          cross-attention to the 64 image tokens
//	    y = LN3(x);  x += GELU(y·fc1ᵀ + b1)·fc2ᵀ + b2        fc1 (M, W), fc2 (W, M)
//	z = LN_f(x[0:t−1])·lm_headᵀ                      (t−1, V)  lm_head (V, W), V = TextVocab
//	score = Σ_{i<t−1} log softmax(z_i)[ids[i+1]]     in float64
//
// Attn(Q, K, V) = concat_h softmax(Q_h·K_hᵀ/√D)·V_h, computed by
// attention.Plain (training/train_judge.py scales Q before the product, a
// rounding-level difference). The training
// script pads captions and masks the pads; the judge here drops them, which
// is the same function (a masked key has weight exactly 0, and the causal
// mask keeps pads, which come last, out of every real token's view).
//
// Tensor names in a model file carry the prefix "judge." (the default-model
// file holds the judge beside the encoder, decoder and VQGAN), and the
// config is the JSON in the metadata key "judge.config".
//
// # Critic
//
// Critic is a second, smaller ranking network that looks at the image
// alone: it scores how free the image is of an object cut by the image
// border, the commonest flaw of the kept images the judge gets wrong (in
// shapes64 every object lies inside the frame). It is trained on renders —
// whole scenes against the same scenes with one object moved across an
// edge, both through the VQ autoencoder — by training/train_critic.py, and
// never sees a model's candidates or the evaluation's scorer:
//
//	h  = the judge's stem (its own weights): conv0…conv3 as above   (C3, 8, 8)
//	f_p = head·h_p + head_b + pos_p                  (64)  head (1, C3, 1, 1), pos (1, 1, 8, 8)
//	score = −log Σ_p exp(f_p)                        in float64; larger is better
//
// Its tensors carry the prefix "critic." and its config is the JSON in
// "critic.config". The engine adds judge.critic_weight × score to the
// judge's ranking score.
package judge
