package model

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/tessella-ml/tessella/internal/size"
)

// MemSource is an in-memory Source and TensorLister (tests, converters).
// The zero value is an empty MemSource ready to use.
type MemSource struct {
	t map[string]memTensor
}

type memTensor struct {
	data  []float32
	shape []int
}

// NewMemSource returns an empty MemSource.
func NewMemSource() *MemSource { return &MemSource{t: map[string]memTensor{}} }

// Set stores data under name with shape (len(data) must match the shape).
// It keeps a reference to data.
func (s *MemSource) Set(name string, data []float32, shape ...int) error {
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("mem source: %s: negative dimension in %v", name, shape)
		}
	}
	n, ok := size.Mul(shape...)
	if !ok {
		return fmt.Errorf("mem source: %s: shape %v has too many elements", name, shape)
	}
	if n != len(data) {
		return fmt.Errorf("mem source: %s: %d values for shape %v", name, len(data), shape)
	}
	if s.t == nil {
		s.t = map[string]memTensor{}
	}
	s.t[name] = memTensor{data: data, shape: slices.Clone(shape)}
	return nil
}

// Delete removes name.
func (s *MemSource) Delete(name string) { delete(s.t, name) }

// Has reports whether name is stored.
func (s *MemSource) Has(name string) bool { _, ok := s.t[name]; return ok }

// Float32 returns the stored data (not a copy) and a copy of its shape.
func (s *MemSource) Float32(name string) ([]float32, []int, error) {
	t, ok := s.t[name]
	if !ok {
		return nil, nil, fmt.Errorf("mem source: no tensor %s", name)
	}
	return t.data, slices.Clone(t.shape), nil
}

// Names lists the stored names, sorted.
func (s *MemSource) Names() []string { return sortedNames(s.t) }

// sortedNames returns the keys of m, sorted (empty, not nil, for an empty m).
func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Shape returns name's shape.
func (s *MemSource) Shape(name string) ([]int, bool) {
	t, ok := s.t[name]
	return slices.Clone(t.shape), ok
}

// EncoderShapes lists every tensor of cfg's encoder state dict with its
// shape, LayerNorm weights included (spec §3).
func EncoderShapes(cfg Config) map[string][]int {
	E, G := cfg.Width, cfg.GLU
	m := map[string][]int{
		"embed_tokens.weight":    {cfg.TextVocab, E},
		"embed_positions.weight": {cfg.TextLen, E},
	}
	addLN(m, "layernorm_embedding", E)
	addLN(m, "final_ln", E)
	for l := range cfg.EncoderLayers {
		p := fmt.Sprintf("layers.%d.", l)
		addLN(m, p+"pre_self_attn_layer_norm", E)
		addLN(m, p+"self_attn_layer_norm", E)
		addAttn(m, p+"self_attn", E)
		addGLU(m, p+"glu", E, G)
	}
	return m
}

// DecoderShapes lists every tensor of cfg's decoder state dict.
func DecoderShapes(cfg Config) map[string][]int {
	E, G := cfg.Width, cfg.GLU
	m := map[string][]int{
		"embed_tokens.weight":    {cfg.Logits(), E},
		"embed_positions.weight": {cfg.ImageTokens, E},
		"lm_head.weight":         {cfg.Logits(), E},
	}
	addLN(m, "layernorm_embedding", E)
	addLN(m, "final_ln", E)
	for l := range cfg.DecoderLayers {
		p := fmt.Sprintf("layers.%d.", l)
		addLN(m, p+"pre_self_attn_layer_norm", E)
		addLN(m, p+"self_attn_layer_norm", E)
		addLN(m, p+"pre_encoder_attn_layer_norm", E)
		addLN(m, p+"encoder_attn_layer_norm", E)
		addAttn(m, p+"self_attn", E)
		addAttn(m, p+"encoder_attn", E)
		addGLU(m, p+"glu", E, G)
	}
	return m
}

func addLN(m map[string][]int, p string, w int) {
	m[p+".weight"], m[p+".bias"] = []int{w}, []int{w}
}

func addAttn(m map[string][]int, p string, e int) {
	for _, k := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
		m[p+"."+k+".weight"] = []int{e, e}
	}
}

func addGLU(m map[string][]int, p string, e, g int) {
	addLN(m, p+".ln0", e)
	addLN(m, p+".ln1", g)
	m[p+".fc0.weight"], m[p+".fc1.weight"], m[p+".fc2.weight"] = []int{g, e}, []int{g, e}, []int{e, g}
}

// RandomWeights is a Source of random weights for a state-dict layout. Each
// tensor is generated on demand, deterministically from the seed and its
// name, so listing a DALL·E Mega layout costs nothing; only Float32
// allocates. Matrices are N(0,1)/√columns, LayerNorm weights 1 + 0.1·N(0,1),
// biases 0.1·N(0,1).
type RandomWeights struct {
	seed   uint64
	shapes map[string][]int
}

// RandomSource returns random encoder and decoder weights of cfg's shapes
// (for benchmarks, the CLI's --random-weights and tests).
func RandomSource(cfg Config, seed uint64) (enc, dec *RandomWeights, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	return &RandomWeights{seed: seed, shapes: EncoderShapes(cfg)},
		&RandomWeights{seed: seed ^ 0x9e3779b97f4a7c15, shapes: DecoderShapes(cfg)}, nil
}

// Has reports whether the layout has name.
func (r *RandomWeights) Has(name string) bool { _, ok := r.shapes[name]; return ok }

// Names lists the layout's names, sorted.
func (r *RandomWeights) Names() []string { return sortedNames(r.shapes) }

// Shape returns name's shape.
func (r *RandomWeights) Shape(name string) ([]int, bool) {
	s, ok := r.shapes[name]
	return slices.Clone(s), ok
}

// Params is the total number of values in the layout.
func (r *RandomWeights) Params() int64 {
	var n int64
	for _, s := range r.shapes {
		p := int64(1)
		for _, d := range s {
			p *= int64(d)
		}
		n += p
	}
	return n
}

// Float32 generates the tensor name (a fresh slice each call).
func (r *RandomWeights) Float32(name string) ([]float32, []int, error) {
	shape, ok := r.shapes[name]
	if !ok {
		return nil, nil, fmt.Errorf("random weights: no tensor %s", name)
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(r.seed, h.Sum64()))
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	switch {
	case len(shape) == 2:
		sd := 1 / math.Sqrt(float64(shape[1]))
		for i := range data {
			data[i] = float32(rng.NormFloat64() * sd)
		}
	case strings.HasSuffix(name, ".weight"):
		for i := range data {
			data[i] = float32(1 + 0.1*rng.NormFloat64())
		}
	default:
		for i := range data {
			data[i] = float32(0.1 * rng.NormFloat64())
		}
	}
	return data, slices.Clone(shape), nil
}

// NewRandomWeights returns random weights for any state-dict layout
// (name → shape), e.g. a VQGAN's (vqgan.Shapes), made as RandomSource does.
func NewRandomWeights(shapes map[string][]int, seed uint64) *RandomWeights {
	return &RandomWeights{seed: seed, shapes: shapes}
}
