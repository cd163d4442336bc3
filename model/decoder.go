package model

import (
	"fmt"

	"github.com/tessella-ml/tessella/attention"
	"github.com/tessella-ml/tessella/internal/matmul"
)

// decoderLayer holds one DalleBartDecoder layer's weights.
type decoderLayer struct {
	preSelfLN  layerNorm   // pre_self_attn_layer_norm (E)
	self       attnWeights // self_attn.{q,k,v,out}_proj (E, E), q, k, v fused
	selfLN     layerNorm   // self_attn_layer_norm (E)
	preCrossLN layerNorm   // pre_encoder_attn_layer_norm (E)
	cross      attnWeights // encoder_attn.{q,k,v,out}_proj (E, E)
	crossLN    layerNorm   // encoder_attn_layer_norm (E)
	glu        gluWeights  // glu.*
}

// Decoder is min-dalle's DalleBartDecoder (spec §6), run one image token at
// a time with a KV cache held in a State.
type Decoder struct {
	cfg     Config
	tokEmb  []float32 // embed_tokens.weight (Vi+1, E)
	posEmb  []float32 // embed_positions.weight (ImageTokens, E)
	embLN   layerNorm // layernorm_embedding (E)
	layers  []decoderLayer
	finalLN layerNorm      // final_ln (E)
	lmHead  *matmul.Linear // lm_head.weight (Vi+1, E)
	Kernel  attention.Kernel
	Threads int    // attention goroutines; 0 means GOMAXPROCS
	Tracer  Tracer // if non-nil, gets every step's attention probabilities (trace.go)
}

// NewDecoder loads the decoder weights (state-dict names without a prefix)
// and checks every shape against cfg.
func NewDecoder(cfg Config, src Source) (*Decoder, error) {
	return NewDecoderWithOptions(cfg, src, Options{})
}

// NewDecoderWithOptions is NewDecoder with load-time options (dtype.go).
func NewDecoderWithOptions(cfg Config, src Source, opts Options) (*Decoder, error) {
	ld, err := newLoader("decoder", cfg, src, opts)
	if err != nil {
		return nil, err
	}
	e, eps := cfg.Width, cfg.LayerNormEps
	dec := &Decoder{
		cfg:     cfg,
		tokEmb:  ld.Tensor("embed_tokens.weight", cfg.Logits(), e),
		posEmb:  ld.Tensor("embed_positions.weight", cfg.ImageTokens, e),
		embLN:   ld.layerNorm("layernorm_embedding", e, eps),
		finalLN: ld.layerNorm("final_ln", e, eps),
		lmHead:  ld.linear("lm_head.weight", cfg.Logits(), e),
		Kernel:  &attention.Auto{},
	}
	for l := range cfg.DecoderLayers {
		p := fmt.Sprintf("layers.%d.", l)
		dec.layers = append(dec.layers, decoderLayer{
			preSelfLN:  ld.layerNorm(p+"pre_self_attn_layer_norm", e, eps),
			self:       ld.selfAttn(p+"self_attn", e),
			selfLN:     ld.layerNorm(p+"self_attn_layer_norm", e, eps),
			preCrossLN: ld.layerNorm(p+"pre_encoder_attn_layer_norm", e, eps),
			cross:      ld.crossAttn(p+"encoder_attn", e),
			crossLN:    ld.layerNorm(p+"encoder_attn_layer_norm", e, eps),
			glu:        ld.glu(p+"glu", e, cfg.GLU, eps),
		})
	}
	if ld.Err != nil {
		return nil, ld.Err
	}
	return dec, nil
}

// Config returns the configuration the decoder was built with.
func (dec *Decoder) Config() Config { return dec.cfg }

// State is one prompt's decoding state: 2n rows (rows 0..n−1 unconditioned,
// n..2n−1 conditioned), the self-attention KV cache and the cross-attention
// keys and values, computed once from the encoder state. A State belongs
// to the decoder that made it (or a copy of that Decoder value, which shares
// its weights); Step refuses one made by another decoder.
type State struct {
	owner   *matmul.Linear // the maker's lm_head: identifies its weights
	width   int            // the maker's Width, for the error message
	n, rows int            // images n, batch rows 2n
	filled  int            // cache slots 0..filled−1 are written

	selfK, selfV   [][]float32 // per layer (ImageTokens, 2n, E): slot i, row r at (i·2n + r)·E
	crossK, crossV [][]float32 // per layer (2, T, E): encoder row 0 (uncond), 1 (cond)
	crossValid     [2][]bool   // (n, T): key flags of encoder row 0 / 1, repeated per image

	x, h, q, a []float32 // (2n, E)
	qkv        []float32 // (2n, 3E): the fused self-attention projections
	logits     []float32 // (2n, Vi+1)
	glu        gluBuffers
	args       attention.Args // reused so that Step does not allocate it
}

// Images returns n, the number of images the state decodes.
func (s *State) Images() int { return s.n }

// NewState prepares decoding n images from encoderState (2, T, E), the
// output of Encoder.Forward on textRows (2 rows; their pad ids give the
// cross-attention mask). It computes every layer's cross-attention K/V
// once; min-dalle recomputes them each step with the same result.
func (dec *Decoder) NewState(encoderState []float32, textRows [][]int, n int) (*State, error) {
	cfg := dec.cfg
	T, E, L := cfg.TextLen, cfg.Width, len(dec.layers)
	if n <= 0 {
		return nil, fmt.Errorf("decoder: image count %d must be positive", n)
	}
	if len(textRows) != 2 {
		return nil, fmt.Errorf("decoder: %d text rows, want 2 (unconditioned, conditioned)", len(textRows))
	}
	if err := checkText(cfg, textRows); err != nil {
		return nil, err
	}
	if len(encoderState) != 2*T*E {
		return nil, fmt.Errorf("decoder: encoder state has %d values, want 2·%d·%d", len(encoderState), T, E)
	}
	R := 2 * n
	s := &State{owner: dec.lmHead, width: E, n: n, rows: R,
		selfK: make([][]float32, L), selfV: make([][]float32, L),
		crossK: make([][]float32, L), crossV: make([][]float32, L),
		x: make([]float32, R*E), h: make([]float32, R*E), q: make([]float32, R*E), a: make([]float32, R*E),
		qkv:    make([]float32, 3*R*E),
		logits: make([]float32, R*cfg.Logits()),
		glu:    newGLUBuffers(R, E, cfg.GLU),
	}
	for half := range 2 {
		s.crossValid[half] = make([]bool, n*T)
		for b := range n {
			for t, id := range textRows[half] {
				s.crossValid[half][b*T+t] = id != cfg.TextPad
			}
		}
	}
	for l := range dec.layers {
		ly := &dec.layers[l]
		s.selfK[l] = make([]float32, cfg.ImageTokens*R*E) // (ImageTokens, 2n, E)
		s.selfV[l] = make([]float32, cfg.ImageTokens*R*E) // (ImageTokens, 2n, E)
		s.crossK[l] = make([]float32, 2*T*E)              // (2, T, E)
		s.crossV[l] = make([]float32, 2*T*E)              // (2, T, E)
		ly.cross.k.Forward(s.crossK[l], encoderState, 2*T)
		ly.cross.v.Forward(s.crossV[l], encoderState, 2*T)
	}
	return s, nil
}

// Step runs decoder step i (0 ≤ i < ImageTokens) on prevTokens (n ids, the
// tokens sampled at step i−1, or ImageBOS at step 0), fed to both the
// unconditioned and the conditioned row of each image. It writes this
// step's keys and values into cache slot i and attends to slots 0..i, which
// equals min-dalle's attention over all slots with −1e12 on the future ones.
// Steps must run in order: i may not exceed the number of slots written.
// s must come from dec's NewState.
// It returns the logits (2n, Vi+1), rows 0..n−1 unconditioned; the slice is
// the state's buffer, overwritten by the next Step.
func (dec *Decoder) Step(s *State, prevTokens []int, i int) ([]float32, error) {
	cfg := dec.cfg
	if s == nil {
		return nil, fmt.Errorf("decoder: nil state")
	}
	if s.owner != dec.lmHead || s.owner == nil {
		return nil, fmt.Errorf("decoder: state made by another decoder (width %d; this decoder's is %d)", s.width, cfg.Width)
	}
	if len(prevTokens) != s.n {
		return nil, fmt.Errorf("decoder: %d previous tokens for %d images", len(prevTokens), s.n)
	}
	if i < 0 || i >= cfg.ImageTokens {
		return nil, fmt.Errorf("decoder: step %d outside [0, %d)", i, cfg.ImageTokens)
	}
	if i > s.filled {
		return nil, fmt.Errorf("decoder: step %d before step %d", i, s.filled)
	}
	for b, tok := range prevTokens {
		if tok < 0 || tok >= cfg.Logits() {
			return nil, fmt.Errorf("decoder: image %d: token %d outside [0, %d)", b, tok, cfg.Logits())
		}
	}
	kernel := dec.Kernel
	if kernel == nil {
		kernel = attention.Plain{}
	}
	n, R, E, T, D := s.n, s.rows, cfg.Width, cfg.TextLen, cfg.HeadDim()
	x, h, q, a := s.x, s.h, s.q, s.a // each (2n, E)
	qkv := s.qkv                     // (2n, 3E)

	// x = embed_tokens[prev] + embed_positions[i]; row r uses prevTokens[r mod n].
	pe := dec.posEmb[i*E:][:E]
	for r := range R {
		te := dec.tokEmb[prevTokens[r%n]*E:][:E]
		xr := x[r*E:][:E]
		for c := range xr {
			xr[c] = te[c] + pe[c]
		}
	}
	dec.embLN.forward(x, x) // x (2n, E)

	args := &s.args
	for l := range dec.layers {
		ly := &dec.layers[l]
		kSlot := s.selfK[l][i*R*E:][:R*E] // cache slot i (2n, E)
		vSlot := s.selfV[l][i*R*E:][:R*E] // cache slot i (2n, E)

		// Self-attention over cache slots 0..i.
		ly.preSelfLN.forward(h, x)     // h = LN(x)                  (2n, E)
		ly.self.qkv.Forward(qkv, h, R) // qkv = h·[Wq; Wk; Wv]ᵀ     (2n, 3E)
		for r := range R {             // q, cache slot i ← rows of qkv
			src := qkv[r*3*E:][:3*E]
			copy(q[r*E:][:E], src[:E])
			copy(kSlot[r*E:][:E], src[E:2*E])
			copy(vSlot[r*E:][:E], src[2*E:])
		}
		*args = attention.Args{Batch: R, Heads: cfg.Heads, QLen: 1, KVLen: i + 1, HeadDim: D,
			Q:       attention.Operand{Data: q, BatchStride: E, RowStride: E, HeadStride: D},
			K:       attention.Operand{Data: s.selfK[l], BatchStride: E, RowStride: R * E, HeadStride: D},
			V:       attention.Operand{Data: s.selfV[l], BatchStride: E, RowStride: R * E, HeadStride: D},
			Out:     attention.Operand{Data: a, BatchStride: E, RowStride: E, HeadStride: D},
			Threads: dec.Threads}
		if err := kernel.Forward(args); err != nil { // a (2n, E)
			return nil, fmt.Errorf("decoder layer %d self-attention: %w", l, err)
		}
		if dec.Tracer != nil {
			if err := dec.traceSelf(i, l, args); err != nil {
				return nil, err
			}
		}
		ly.self.o.Forward(h, a, R) // h = a·Woᵀ          (2n, E)
		ly.selfLN.forward(h, h)    // h = LN(h)
		for j := range x {         // x = x + h
			x[j] += h[j]
		}

		// Cross-attention: unconditioned rows read encoder row 0, the
		// conditioned rows encoder row 1 (K/V batch stride 0 broadcasts it).
		ly.preCrossLN.forward(h, x) // h = LN(x)         (2n, E)
		ly.cross.q.Forward(q, h, R) // q = h·Wqᵀ         (2n, E)
		for half := range 2 {
			*args = attention.Args{Batch: n, Heads: cfg.Heads, QLen: 1, KVLen: T, HeadDim: D,
				Q:       attention.Operand{Data: q[half*n*E:], BatchStride: E, RowStride: E, HeadStride: D},
				K:       attention.Operand{Data: s.crossK[l][half*T*E:][:T*E], BatchStride: 0, RowStride: E, HeadStride: D},
				V:       attention.Operand{Data: s.crossV[l][half*T*E:][:T*E], BatchStride: 0, RowStride: E, HeadStride: D},
				Out:     attention.Operand{Data: a[half*n*E:], BatchStride: E, RowStride: E, HeadStride: D},
				Mask:    attention.Mask{KeyValid: s.crossValid[half]},
				Threads: dec.Threads}
			if err := kernel.Forward(args); err != nil { // a[half] (n, E)
				return nil, fmt.Errorf("decoder layer %d cross-attention: %w", l, err)
			}
		}
		if dec.Tracer != nil {
			if err := dec.traceCross(s, i, l); err != nil {
				return nil, err
			}
		}
		ly.cross.o.Forward(h, a, R) // h = a·Woᵀ         (2n, E)
		ly.crossLN.forward(h, h)    // h = LN(h)
		for j := range x {          // x = x + h
			x[j] += h[j]
		}

		ly.glu.addGLU(x, R, &s.glu) // x = x + GLU(x)   (2n, E)
	}
	s.filled = i + 1
	dec.finalLN.forward(h, x)          // h = LN(x)                (2n, E)
	dec.lmHead.Forward(s.logits, h, R) // logits = h·lm_headᵀ      (2n, Vi+1)
	return s.logits, nil
}
