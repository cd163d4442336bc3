package model

import (
	"fmt"

	"github.com/tessella-ml/tessella/attention"
)

// encoderLayer holds one DalleBartEncoder layer's weights.
type encoderLayer struct {
	preSelfLN layerNorm   // pre_self_attn_layer_norm (E)
	self      attnWeights // self_attn.{q,k,v,out}_proj (E, E)
	selfLN    layerNorm   // self_attn_layer_norm (E)
	glu       gluWeights  // glu.*
}

// Encoder is min-dalle's DalleBartEncoder (spec §5).
type Encoder struct {
	cfg     Config
	tokEmb  []float32 // embed_tokens.weight (Vt, E)
	posEmb  []float32 // embed_positions.weight (T, E)
	embLN   layerNorm // layernorm_embedding (E)
	layers  []encoderLayer
	finalLN layerNorm // final_ln (E)
	Kernel  attention.Kernel
	Threads int    // attention goroutines; 0 means GOMAXPROCS
	Tracer  Tracer // if non-nil, gets every layer's attention probabilities (trace.go)
}

// NewEncoder loads the encoder weights (state-dict names without a prefix,
// e.g. "layers.0.glu.fc0.weight") and checks every shape against cfg.
func NewEncoder(cfg Config, src Source) (*Encoder, error) {
	return NewEncoderWithOptions(cfg, src, Options{})
}

// NewEncoderWithOptions is NewEncoder with load-time options (dtype.go).
func NewEncoderWithOptions(cfg Config, src Source, opts Options) (*Encoder, error) {
	ld, err := newLoader("encoder", cfg, src, opts)
	if err != nil {
		return nil, err
	}
	e, eps := cfg.Width, cfg.LayerNormEps
	enc := &Encoder{
		cfg:     cfg,
		tokEmb:  ld.Tensor("embed_tokens.weight", cfg.TextVocab, e),
		posEmb:  ld.Tensor("embed_positions.weight", cfg.TextLen, e),
		embLN:   ld.layerNorm("layernorm_embedding", e, eps),
		finalLN: ld.layerNorm("final_ln", e, eps),
		Kernel:  &attention.Auto{},
	}
	for l := range cfg.EncoderLayers {
		p := fmt.Sprintf("layers.%d.", l)
		enc.layers = append(enc.layers, encoderLayer{
			preSelfLN: ld.layerNorm(p+"pre_self_attn_layer_norm", e, eps),
			self:      ld.selfAttn(p+"self_attn", e),
			selfLN:    ld.layerNorm(p+"self_attn_layer_norm", e, eps),
			glu:       ld.glu(p+"glu", e, cfg.GLU, eps),
		})
	}
	if ld.Err != nil {
		return nil, ld.Err
	}
	return enc, nil
}

// Config returns the configuration the encoder was built with.
func (enc *Encoder) Config() Config { return enc.cfg }

// checkText validates text rows: each exactly TextLen ids in [0, Vt).
func checkText(cfg Config, rows [][]int) error {
	if len(rows) == 0 {
		return fmt.Errorf("encoder: no text rows")
	}
	for r, row := range rows {
		if len(row) != cfg.TextLen {
			return fmt.Errorf("encoder: text row %d has %d ids, want %d", r, len(row), cfg.TextLen)
		}
		for t, id := range row {
			if id < 0 || id >= cfg.TextVocab {
				return fmt.Errorf("encoder: text row %d position %d: id %d outside [0, %d)", r, t, id, cfg.TextVocab)
			}
		}
	}
	return nil
}

// Forward encodes B text rows of TextLen ids each (min-dalle uses B = 2:
// row 0 the empty prompt, row 1 the prompt) and returns the encoder state
// (B, T, E). Keys whose id is TextPad are masked with −1e12.
func (enc *Encoder) Forward(textRows [][]int) ([]float32, error) {
	cfg := enc.cfg
	if err := checkText(cfg, textRows); err != nil {
		return nil, err
	}
	kernel := enc.Kernel
	if kernel == nil {
		kernel = attention.Plain{}
	}
	B, T, E, G := len(textRows), cfg.TextLen, cfg.Width, cfg.GLU
	M := B * T // rows of every activation

	x := make([]float32, M*E)     // residual stream (B, T, E)
	h := make([]float32, M*E)     // normalised input (B, T, E)
	qkv := make([]float32, M*3*E) // queries, keys, values side by side (B, T, 3E)
	a := make([]float32, M*E)     // attention output, heads side by side (B, T, E)
	valid := make([]bool, M)      // key j of row b is attended iff id != pad (B, T)
	gb := newGLUBuffers(M, E, G)  // GLU scratch

	// x = embed_tokens[ids] + embed_positions[t]; positions start at 0.
	for b, row := range textRows {
		for t, id := range row {
			xr := x[(b*T+t)*E:][:E]
			te, pe := enc.tokEmb[id*E:][:E], enc.posEmb[t*E:][:E]
			for c := range xr {
				xr[c] = te[c] + pe[c]
			}
			valid[b*T+t] = id != cfg.TextPad
		}
	}
	enc.embLN.forward(x, x) // x (B, T, E)

	op := func(d []float32) attention.Operand {
		return attention.Operand{Data: d, BatchStride: T * E, RowStride: E, HeadStride: cfg.HeadDim()}
	}
	// q, k and v are column blocks of qkv: rows 3E apart.
	qkvOp := func(part int) attention.Operand {
		return attention.Operand{Data: qkv[part*E:], BatchStride: T * 3 * E, RowStride: 3 * E, HeadStride: cfg.HeadDim()}
	}
	for l := range enc.layers {
		ly := &enc.layers[l]
		ly.preSelfLN.forward(h, x)     // h = LN(x)           (B, T, E)
		ly.self.qkv.Forward(qkv, h, M) // [q k v] = h·[Wq; Wk; Wv]ᵀ (B, T, 3E)
		args := attention.Args{Batch: B, Heads: cfg.Heads, QLen: T, KVLen: T, HeadDim: cfg.HeadDim(),
			Q: qkvOp(0), K: qkvOp(1), V: qkvOp(2), Out: op(a), Mask: attention.Mask{KeyValid: valid}, Threads: enc.Threads}
		if err := kernel.Forward(&args); err != nil { // a = softmax(q·kᵀ/√D + mask)·v  (B, T, E)
			return nil, fmt.Errorf("encoder layer %d: %w", l, err)
		}
		if enc.Tracer != nil {
			if err := enc.traceAttention(l, &args); err != nil {
				return nil, err
			}
		}
		ly.self.o.Forward(h, a, M) // h = a·Woᵀ           (B, T, E)
		ly.selfLN.forward(h, h)    // h = LN(h) (sandwich)
		for i := range x {         // x = x + h
			x[i] += h[i]
		}
		ly.glu.addGLU(x, M, &gb) // x = x + GLU(x)      (B, T, E)
	}
	enc.finalLN.forward(x, x) // encoder state (B, T, E)
	return x, nil
}
