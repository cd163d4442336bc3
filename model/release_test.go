package model

import (
	"slices"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/internal/matmul"
)

// releaseRecorder is a Source that records the Release hints it gets.
type releaseRecorder struct {
	Source
	released []string
}

func (r *releaseRecorder) Release(name string) { r.released = append(r.released, name) }

// The loader hands back exactly the weights it packed into a Linear (never
// an embedding or a LayerNorm vector, which it keeps referencing), and the
// model built that way computes what one built without the hint computes.
func TestLoaderReleasesPackedWeights(t *testing.T) {
	c := small()
	enc, dec, err := RandomSource(c, 7)
	if err != nil {
		t.Fatal(err)
	}
	re, rd := &releaseRecorder{Source: enc}, &releaseRecorder{Source: dec}
	m, err := NewModel(c, re, rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if matmul.Default().Tier() == matmul.Gonum {
		// Gonum keeps a Linear's weight; only the fused ones (self-attention
		// q, k, v and GLU fc0, fc1) are copies, whose sources may go.
		fusedOnly := func(names []string) bool {
			for _, n := range names {
				if !strings.Contains(n, "self_attn.q_proj") && !strings.Contains(n, "self_attn.k_proj") &&
					!strings.Contains(n, "self_attn.v_proj") && !strings.Contains(n, ".fc0.") && !strings.Contains(n, ".fc1.") {
					return false
				}
			}
			return true
		}
		if !fusedOnly(re.released) || !fusedOnly(rd.released) {
			t.Fatalf("the Gonum tier keeps its weights, yet released %v %v", re.released, rd.released)
		}
		return
	}
	for part, r := range map[string]*releaseRecorder{"encoder": re, "decoder": rd} {
		if len(r.released) == 0 {
			t.Fatalf("%s: nothing released", part)
		}
		for _, name := range r.released {
			if !strings.HasSuffix(name, "proj.weight") && !strings.Contains(name, ".fc") && name != "lm_head.weight" {
				t.Errorf("%s: released %s, which is not a Linear weight", part, name)
			}
		}
	}
	if !slices.Contains(rd.released, "lm_head.weight") || slices.Contains(rd.released, "embed_tokens.weight") {
		t.Errorf("decoder released %v", rd.released)
	}
	ref := smallModel(t, c, 7)
	a, err := m.Encoder.Forward(smallText(c))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ref.Encoder.Forward(smallText(c))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Error("encoder state differs from the model loaded without Release")
	}
}

// Two models in one process keep their own matmul thread counts.
func TestOptionsThreadsPerModel(t *testing.T) {
	c := small()
	load := func(threads int) *Model {
		enc, dec, err := RandomSource(c, 7)
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewModelWithOptions(c, enc, dec, nil, Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	one, three := load(1), load(3)
	if got := one.Decoder.lmHead.Threads(); got != 1 {
		t.Errorf("Threads 1: lm_head runs on %d", got)
	}
	if got := three.Decoder.lmHead.Threads(); got != 3 {
		t.Errorf("Threads 3: lm_head runs on %d", got)
	}
	if got := one.Encoder.layers[0].glu.fc01.Threads(); got != 1 {
		t.Errorf("Threads 1: encoder fc0/fc1 run on %d", got)
	}
	enc, dec, _ := RandomSource(c, 7)
	if _, err := NewModelWithOptions(c, enc, dec, nil, Options{Threads: -1}); err == nil {
		t.Error("negative Threads accepted")
	}
}
