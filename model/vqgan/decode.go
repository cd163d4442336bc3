package vqgan

import (
	"fmt"
	"runtime"
)

// Hook receives one named stage of a decode: data is the stage's (C, H, W)
// activation, shape is [C, H, W]. Both are only valid during the call; a
// hook that keeps them must copy.
//
// The stages, in order, for L levels: "embedding", "post_quant_conv",
// "conv_in", "mid.block_1", "mid.attn_1", "mid.block_2", then for
// i = L−1 … 0: "up.{i}.block.{j}" and, on attention levels,
// "up.{i}.attn.{j}" after each block j, then "up.{i}.upsample" (i > 0);
// finally "norm_out" (GroupNorm followed by swish) and "conv_out".
type Hook func(stage string, data []float32, shape []int)

// Decode turns a rows × cols map of codebook indices (raster order: token t
// is at row t/cols, column t%cols) into the raw image, a (3, rows·U, cols·U)
// row-major float32 slice with U = Config().Upscale(). The values are the
// network's output before any clipping: the caller applies
// clip(0, 1)·255 and converts.
func (m *VQGAN) Decode(tokens []int, rows, cols int) ([]float32, error) {
	return m.DecodeTrace(tokens, rows, cols, nil)
}

// DecodeTrace is Decode, calling hook (if not nil) after every stage.
func (m *VQGAN) DecodeTrace(tokens []int, rows, cols int, hook Hook) ([]float32, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("vqgan: token map %d×%d is empty", rows, cols)
	}
	if rows > len(tokens) || cols > len(tokens) || rows*cols != len(tokens) {
		return nil, fmt.Errorf("vqgan: %d tokens do not fill a %d×%d map", len(tokens), rows, cols)
	}
	for i, t := range tokens {
		if t < 0 || t >= m.cfg.Codebook {
			return nil, fmt.Errorf("vqgan: token %d (row %d, column %d) is %d, outside the codebook [0, %d)",
				i, i/cols, i%cols, t, m.cfg.Codebook)
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	scratch := m.ScratchBytes
	if scratch <= 0 {
		scratch = DefaultScratchBytes
	}
	r := &run{threads: threadCount(m.Threads), scratchElems: max(1, scratch/4), ws: &m.ws}
	ws := r.ws
	emit := func(stage string, x []float32, c, h, w int) {
		if hook != nil {
			hook(stage, x[:c*h*w], []int{c, h, w})
		}
	}

	cfg := m.cfg
	L := len(cfg.ChannelMult)
	h, w := rows, cols
	hw := h * w

	// Embedding lookup, transposed to channels first:
	// x[c, y, x] = embedding[tokens[y·cols + x], c]          (CodeDim, rows, cols)
	x := ws.get(cfg.CodeDim * hw)
	for p, t := range tokens {
		e := m.embedding[t*cfg.CodeDim : (t+1)*cfg.CodeDim]
		for c, v := range e {
			x[c*hw+p] = v
		}
	}
	emit("embedding", x, cfg.CodeDim, h, w)

	y := ws.get(cfg.CodeDim * hw) // (CodeDim, rows, cols)
	r.conv1x1(y, x, &m.postQuant, hw)
	x, y = y, x
	emit("post_quant_conv", x, cfg.CodeDim, h, w)

	c := m.ch[L-1]
	ws.put(y)
	y = ws.get(c * hw) // (ch[L−1], rows, cols)
	r.conv3x3(y, x, &m.convIn, h, w)
	ws.put(x)
	x = y
	emit("conv_in", x, c, h, w)

	x = r.resBlock(x, &m.mid1, h, w)
	emit("mid.block_1", x, c, h, w)
	x = r.attnBlock(x, &m.midAttn, hw)
	emit("mid.attn_1", x, c, h, w)
	x = r.resBlock(x, &m.mid2, h, w)
	emit("mid.block_2", x, c, h, w)

	for i := L - 1; i >= 0; i-- {
		lv := &m.up[i]
		for j := range lv.blocks {
			x = r.resBlock(x, &lv.blocks[j], h, w)
			c = lv.blocks[j].out
			emit(fmt.Sprintf("up.%d.block.%d", i, j), x, c, h, w)
			if len(lv.attn) > 0 {
				x = r.attnBlock(x, &lv.attn[j], hw)
				emit(fmt.Sprintf("up.%d.attn.%d", i, j), x, c, h, w)
			}
		}
		if lv.hasUpsample {
			// u = nearest ×2 upsample of x                   (c, 2h, 2w)
			u := ws.get(c * 4 * hw)
			r.upsample2(u, x, c, h, w)
			ws.put(x)
			// The maps of the lower resolutions are done with: hand them
			// to the collector now, so that the larger maps ahead can reuse
			// their memory instead of adding to it (a few ms per call, and
			// only for models whose maps are large).
			if ws.dropBelow(c*4*hw) >= gcDropBytes {
				runtime.GC()
			}
			h, w = 2*h, 2*w
			hw = h * w
			x = ws.get(c * hw) // (c, h, w)
			r.conv3x3(x, u, &lv.upsample, h, w)
			ws.put(u)
			emit(fmt.Sprintf("up.%d.upsample", i), x, c, h, w)
		}
	}

	r.groupNorm(x, x, &m.normOut, hw, true) // swish(norm_out(x))   (ch[0], H, W)
	emit("norm_out", x, c, h, w)

	out := make([]float32, 3*hw) // (3, H, W), owned by the caller
	r.conv3x3(out, x, &m.convOut, h, w)
	ws.put(x)
	emit("conv_out", out, 3, h, w)
	return out, nil
}

// resBlock consumes x (in, h, w) and returns s(x) + h (out, h, w), where
//
//	h = conv2(swish(norm2(conv1(swish(norm1(x))))))
//	s = nin_shortcut (1×1) if in ≠ out, else the identity.
func (r *run) resBlock(x []float32, b *resBlock, h, w int) []float32 {
	ws, hw := r.ws, h*w
	t := ws.get(b.in * hw) // swish(norm1(x))              (in, h, w)
	r.groupNorm(t, x, &b.norm1, hw, true)
	u := ws.get(b.out * hw) // conv1(t)                   (out, h, w)
	r.conv3x3(u, t, &b.conv1, h, w)
	ws.put(t)
	r.groupNorm(u, u, &b.norm2, hw, true) // swish(norm2(u)), in place
	v := ws.get(b.out * hw)               // conv2(u)            (out, h, w)
	r.conv3x3(v, u, &b.conv2, h, w)
	ws.put(u)
	if b.hasShortcut {
		s := ws.get(b.out * hw) // nin_shortcut(x)          (out, h, w)
		r.conv1x1(s, x, &b.ninShortcut, hw)
		ws.put(x)
		x = s
	}
	add(x, v)
	ws.put(v)
	return x
}

// attnBlock updates x (c, n) in place to x + proj_out(attention(q, k, v))
// with q, k, v the 1×1 projections of norm(x) (see run.attention).
func (r *run) attnBlock(x []float32, a *attnBlock, n int) []float32 {
	ws, c := r.ws, a.c
	t := ws.get(c * n) // norm(x)                             (c, n)
	r.groupNorm(t, x, &a.norm, n, false)
	q := ws.get(c * n) // (c, n) each
	k := ws.get(c * n)
	v := ws.get(c * n)
	r.conv1x1(q, t, &a.q, n)
	r.conv1x1(k, t, &a.k, n)
	r.conv1x1(v, t, &a.v, n)
	r.attention(t, q, k, v, c, n) // t = attention output    (c, n)
	r.conv1x1(q, t, &a.proj, n)   // q = proj_out(t)         (c, n)
	add(x, q)
	ws.put(t)
	ws.put(q)
	ws.put(k)
	ws.put(v)
	return x
}
