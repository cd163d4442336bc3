package benchmarks

import (
	"fmt"
	"strconv"
	"strings"
)

// AttentionShape is one benchmarked attention call. The operands use the
// model's layout, (B, N, H·D) with heads side by side.
type AttentionShape struct {
	Name                               string
	Batch, Heads, QLen, KVLen, HeadDim int
	Causal                             bool
	// Cold (a decode shape named …-cold) makes the harness rotate through
	// enough independent copies of K and V that every call reads its KV
	// cache from DRAM, as the model does when each step walks 24 layers'
	// caches; see AttentionOptions.ColdBytes.
	Cold bool `json:",omitempty"`
}

// FLOP is 4·B·H·Nq·Nk·D (two matrix products), halved for causal masks.
func (s AttentionShape) FLOP() float64 {
	f := 4 * float64(s.Batch) * float64(s.Heads) * float64(s.QLen) * float64(s.KVLen) * float64(s.HeadDim)
	if s.Causal {
		f /= 2
	}
	return f
}

// KVBytes is the size of K and V in bytes (what a decode step must read).
func (s AttentionShape) KVBytes() float64 {
	return 2 * 4 * float64(s.Batch*s.Heads*s.KVLen*s.HeadDim)
}

// IOBytes is the size of Q, K, V and Out in bytes (the roofline's traffic).
func (s AttentionShape) IOBytes() float64 {
	return s.KVBytes() + 2*4*float64(s.Batch*s.Heads*s.QLen*s.HeadDim)
}

// IsDecode reports a shape with at most 4 query rows (a decode step).
func (s AttentionShape) IsDecode() bool { return s.QLen <= 4 }

// model widths: name, embed width E, heads H (D = E/H = 64 for both).
var attentionModels = []struct {
	name     string
	e, heads int
}{{"mini", 1024, 16}, {"mega", 2048, 32}}

// DefaultAttentionShapes are the shapes RunAttention uses when none are
// given: a short set (mini's encoder and decoder, mega's decode at t = 256,
// and the N = 1024 and 4096 sweeps at d = 64).
var DefaultAttentionShapes = []string{"mini-encoder", "mini-self256", "mini-cross256", "mega-decode256",
	"sweep-N1024-d64", "sweep-N4096-d64"}

// AttentionShapeNames lists the named shapes: every model shape and the
// sweeps N = 256 … 16384, d ∈ {64, 128}, causal or not (ParseAttentionShape
// also accepts any other sweep-N<n>-d<d>[-causal] and decode<t>).
func AttentionShapeNames() []string {
	var names []string
	for _, m := range attentionModels {
		for _, s := range []string{"encoder", "self256", "cross256", "cross1", "decode1", "decode64", "decode256", "decode256-cold"} {
			names = append(names, m.name+"-"+s)
		}
	}
	for _, d := range []int{64, 128} {
		for n := 256; n <= 16384; n *= 2 {
			names = append(names, fmt.Sprintf("sweep-N%d-d%d", n, d), fmt.Sprintf("sweep-N%d-d%d-causal", n, d))
		}
	}
	return names
}

// ParseAttentionShape resolves a shape name. Model shapes (mini-…, mega-…)
// use batch 2·grid² (the classifier-free-guidance pair per image):
//
//	<model>-encoder    64×64 text self-attention
//	<model>-self256    256×256 causal image self-attention (the whole sequence)
//	<model>-cross256   256 image rows × 64 text keys
//	<model>-cross1     1 × 64 (one decode step's cross-attention)
//	<model>-decode<t>  1 × t against a KV cache, t ∈ {1, 64, 256} (any t works)
//
// A decode shape (≤ 4 query rows) may end in -cold (mega-decode256-cold):
// the same call, timed while rotating through independent KV caches so
// that none is in the CPU caches (AttentionShape.Cold).
//
// sweep-N<n>-d<d>[-causal] is one (batch 1, head 1) N×N call with head width d.
//
// A shape whose Q, K or V (B·H·N·D elements) would exceed 1<<30 elements
// (4 GiB of float32), or whose batch 2·grid² overflows, is refused: it
// could not be allocated or indexed.
func ParseAttentionShape(name string, grid int) (AttentionShape, error) {
	if grid <= 0 {
		grid = 1
	}
	if base, ok := strings.CutSuffix(name, "-cold"); ok {
		s, err := ParseAttentionShape(base, grid)
		if err != nil {
			return AttentionShape{Name: name}, fmt.Errorf("attention shape %q: %w", name, err)
		}
		if s.Cold || !s.IsDecode() {
			return AttentionShape{Name: name}, fmt.Errorf("attention shape %q: -cold applies once, and to decode shapes (≤ 4 query rows) only", name)
		}
		s.Name, s.Cold = name, true
		return s, nil
	}
	s := AttentionShape{Name: name}
	if rest, ok := strings.CutPrefix(name, "sweep-N"); ok {
		causal := strings.HasSuffix(rest, "-causal")
		rest = strings.TrimSuffix(rest, "-causal")
		ns, ds, ok := strings.Cut(rest, "-d")
		n, err1 := strconv.Atoi(ns)
		d, err2 := strconv.Atoi(ds)
		if !ok || err1 != nil || err2 != nil || n <= 0 || d <= 0 {
			return s, fmt.Errorf("attention shape %q: want sweep-N<n>-d<d>[-causal]", name)
		}
		s.Batch, s.Heads, s.QLen, s.KVLen, s.HeadDim, s.Causal = 1, 1, n, n, d, causal
		return s, s.checkSize()
	}
	model, kind, ok := strings.Cut(name, "-")
	if !ok {
		return s, fmt.Errorf("attention shape %q: unknown (want <mini|mega>-<kind> or sweep-N<n>-d<d>)", name)
	}
	found := false
	for _, m := range attentionModels {
		if m.name == model {
			s.Heads, s.HeadDim, found = m.heads, m.e/m.heads, true
		}
	}
	if !found {
		return s, fmt.Errorf("attention shape %q: unknown model %q (mini or mega)", name, model)
	}
	b, ok := boundedProduct(maxOperandElems, 2, grid, grid)
	if !ok {
		return s, fmt.Errorf("attention shape %q: grid %d: batch 2·grid² is more than %d", name, grid, maxOperandElems)
	}
	s.Batch = b
	switch {
	case kind == "encoder":
		s.QLen, s.KVLen = 64, 64
	case kind == "self256":
		s.QLen, s.KVLen, s.Causal = 256, 256, true
	case kind == "cross256":
		s.QLen, s.KVLen = 256, 64
	case kind == "cross1":
		s.QLen, s.KVLen = 1, 64
	case strings.HasPrefix(kind, "decode"):
		t, err := strconv.Atoi(strings.TrimPrefix(kind, "decode"))
		if err != nil || t <= 0 {
			return s, fmt.Errorf("attention shape %q: want decode<t> with t > 0", name)
		}
		s.QLen, s.KVLen = 1, t
	default:
		return s, fmt.Errorf("attention shape %q: unknown kind %q", name, kind)
	}
	return s, s.checkSize()
}

// checkSize refuses a shape whose Q/Out or K/V operand would have more
// than maxOperandElems elements.
func (s AttentionShape) checkSize() error {
	for _, op := range []struct {
		name string
		rows int
	}{{"Q", s.QLen}, {"K", s.KVLen}} {
		if _, ok := boundedProduct(maxOperandElems, s.Batch, s.Heads, op.rows, s.HeadDim); !ok {
			return fmt.Errorf("attention shape %q: %s (batch %d × heads %d × %d rows × d %d) has more than %d elements (4 GiB of float32)",
				s.Name, op.name, s.Batch, s.Heads, op.rows, s.HeadDim, maxOperandElems)
		}
	}
	return nil
}
