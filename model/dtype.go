package model

import (
	"fmt"

	"github.com/tessella-ml/tessella/internal/load"
	"github.com/tessella-ml/tessella/internal/matmul"
	"github.com/tessella-ml/tessella/model/vqgan"
)

// WeightDType is the precision the encoder's and decoder's Linear weights
// (every nn.Linear: attention projections, GLU fc0/fc1/fc2, lm_head) are
// kept in once loaded, whatever the precision of the source. Embeddings,
// LayerNorms and the VQGAN stay float32; activations and accumulation are
// float32 in every case.
//
//   - f32 (the default, also ""): the weights as loaded, 4 bytes each.
//   - f16: IEEE binary16, rounded to nearest even (2 bytes; relative error
//     ≤ 2⁻¹¹ for |w| ≥ 2⁻¹⁴).
//   - bf16: bfloat16, rounded to nearest even (2 bytes; relative error ≤ 2⁻⁸).
//   - q8: int8 in groups of 32 along the input axis with one scale per
//     group, the rule of weights.Q8 (1.125 bytes in memory; error ≤ half a
//     scale, i.e. ≤ max|group|/254).
//
// Loading converts each tensor as it is read, so peak memory stays near the
// converted model's size. With AVX-512 every matrix multiply (the decode
// step's few rows and the encoder's many alike) runs fused dequantising
// kernels that read the weights in place; without it weights are
// dequantised in chunks into float32 for the matmul.
type WeightDType string

// The weight precisions.
const (
	WeightF32  WeightDType = "f32"
	WeightF16  WeightDType = "f16"
	WeightBF16 WeightDType = "bf16"
	WeightQ8   WeightDType = "q8"
)

// ParseWeightDType reads "f32", "f16", "bf16" or "q8" ("" means f32).
func ParseWeightDType(s string) (WeightDType, error) {
	dt, err := matmul.ParseDType(s)
	if err != nil {
		return "", fmt.Errorf("weight dtype %q: want f32, f16, bf16 or q8", s)
	}
	return WeightDType(dt.String()), nil
}

// Options are load-time choices that do not change the network's
// function beyond rounding (so they are not part of Config).
type Options struct {
	WeightDType WeightDType // "" → f32
	// Threads bounds the goroutines of this model's matrix multiplies (its
	// own matmul engine, so two models in one process may differ); 0 uses
	// the matmul package default (matmul.SetThreads, else GOMAXPROCS).
	// Attention and the VQGAN take theirs from Encoder/Decoder/VQGAN.Threads.
	Threads int
}

// matmulDType maps the option to the kernels' dtype.
func (o Options) matmulDType() (matmul.DType, error) {
	dt, err := matmul.ParseDType(string(o.WeightDType))
	if err != nil {
		return matmul.F32, fmt.Errorf("options: weight dtype %q: want f32, f16, bf16 or q8", o.WeightDType)
	}
	return dt, nil
}

// newLoader is the loader of one network part ("encoder" or "decoder")
// with the options applied, once cfg is valid and src is not nil.
func newLoader(part string, cfg Config, src Source, opts Options) (*loader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, fmt.Errorf("%s: nil weight source", part)
	}
	dt, err := opts.matmulDType()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", part, err)
	}
	eng := matmul.Default()
	if opts.Threads < 0 {
		return nil, fmt.Errorf("%s: options: negative thread count %d", part, opts.Threads)
	}
	if opts.Threads > 0 {
		if eng, err = matmul.NewEngine(eng.Tier(), opts.Threads); err != nil {
			return nil, fmt.Errorf("%s: %w", part, err)
		}
	}
	return &loader{Reader: load.Reader{Src: src, Part: part}, dtype: dt, eng: eng}, nil
}

// NewModelWithOptions is NewModel with load-time options: the encoder and
// decoder keep their Linear weights in opts.WeightDType.
func NewModelWithOptions(cfg Config, enc, dec, vq Source, opts Options) (*Model, error) {
	e, err := NewEncoderWithOptions(cfg, enc, opts)
	if err != nil {
		return nil, err
	}
	d, err := NewDecoderWithOptions(cfg, dec, opts)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, Encoder: e, Decoder: d}
	if vq != nil {
		if m.VQGAN, err = vqgan.New(cfg.VQGAN, vq); err != nil {
			return nil, fmt.Errorf("vqgan: %w", err)
		}
	}
	return m, nil
}

// linearBytes sums WeightBytes over the Linear weights of the layers.
func linearBytes(ls ...*matmul.Linear) int {
	n := 0
	for _, l := range ls {
		if l != nil {
			n += l.WeightBytes()
		}
	}
	return n
}

// LinearBytes is the memory the encoder's Linear weights take as loaded
// (in its WeightDType, padding included).
func (enc *Encoder) LinearBytes() int {
	n := 0
	for _, ly := range enc.layers {
		n += linearBytes(ly.self.qkv, ly.self.o, ly.glu.fc01, ly.glu.fc2)
	}
	return n
}

// LinearBytes is the memory the decoder's Linear weights take as loaded
// (lm_head included): what one decode step streams.
func (dec *Decoder) LinearBytes() int {
	n := linearBytes(dec.lmHead)
	for _, ly := range dec.layers {
		n += linearBytes(ly.self.qkv, ly.self.o,
			ly.cross.q, ly.cross.k, ly.cross.v, ly.cross.o, ly.glu.fc01, ly.glu.fc2)
	}
	return n
}
