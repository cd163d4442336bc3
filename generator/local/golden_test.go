package local

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tessella-ml/tessella/tokenizer"
	"github.com/tessella-ml/tessella/weights"
)

// defaultGolden is written by training/export_default.py together with the
// model file: PyTorch's outputs (the independent reference_model.py and
// reference_vqgan.py, in float32, from the exported weights) for one prompt.
var defaultGolden = filepath.Join("..", "..", "testdata", "golden", "default_model.safetensors")

// Tolerances, as for DALL·E Mini's goldens (model/golden_test.go): the
// encoder state is LayerNorm output of size O(1), float32 sums in another
// order give ~1e-6; logits are compared relative to the largest one; the
// VQGAN's raw output within 1e-5·(1 + max|ref|), and its uint8 image may
// differ by one level where a value sits on a truncation boundary.
const (
	goldenEncoderTol   = 1e-4
	goldenLogitsRelTol = 1e-4
	goldenVQGANRelTol  = 1e-5
	goldenU8Off        = 8 // values allowed to be one level off (of 12,288)
)

// TestDefaultModelGolden checks the embedded default model against the
// PyTorch goldens exported with it, tensor by tensor: encoder state,
// teacher-forced decoder logits (unconditioned and prompted rows), the
// VQGAN's raw output and the uint8 image.
func TestDefaultModelGolden(t *testing.T) {
	if !DefaultModelEmbedded() {
		t.Skipf("no trained default model is embedded (%s)", DefaultModelFile)
	}
	g, err := weights.Open(defaultGolden)
	if err != nil {
		t.Fatalf("the embedded model needs its goldens (training/export_default.py writes them): %v", err)
	}
	defer g.Close()
	sha, err := embeddedSHA256()
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Metadata()["model_sha256"]; got != sha {
		t.Fatalf("%s belongs to model sha256 %s, the embedded model is %s: export both together", defaultGolden, got, sha)
	}
	e, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m := e.Model()
	f32 := func(name string) ([]float32, []int) {
		ten, ok := g.Tensor(name)
		if !ok {
			t.Fatalf("%s has no tensor %s", defaultGolden, name)
		}
		v, err := ten.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return v, ten.Shape
	}
	ints := func(name string) ([]int, []int) {
		ten, ok := g.Tensor(name)
		if !ok {
			t.Fatalf("%s has no tensor %s", defaultGolden, name)
		}
		v, err := ten.Ints()
		if err != nil {
			t.Fatal(err)
		}
		return v, ten.Shape
	}
	maxDiff := func(a, b []float32) (d, s float64) {
		if len(a) != len(b) {
			t.Fatalf("%d values, golden has %d", len(a), len(b))
		}
		for i := range a {
			d = max(d, math.Abs(float64(a[i])-float64(b[i])))
			s = max(s, math.Abs(float64(b[i])))
		}
		return d, s
	}

	// The prompt tokenizes as the golden's row 1 (row 0 is the empty prompt).
	ids, shape := ints("text_tokens")
	T := shape[1]
	text := [][]int{ids[:T], ids[T:]}
	uncond, cond := tokenizer.TextRows(e.Tokenizer().Tokenize(g.Metadata()["prompt"]), T)
	if !slices.Equal(uncond, text[0]) || !slices.Equal(cond, text[1]) {
		t.Errorf("tokenizer: %q → %v %v, golden rows %v", g.Metadata()["prompt"], uncond, cond, text)
	}

	state, err := m.Encoder.Forward(text)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f32("encoder_state")
	d, s := maxDiff(state, want)
	t.Logf("encoder state: max|Δ| %.3g (max|ref| %.3g)", d, s)
	if d > goldenEncoderTol {
		t.Errorf("encoder state max|Δ| %g > %g", d, goldenEncoderTol)
	}

	fed, fshape := ints("tf_tokens") // (S, 1)
	logits, _ := f32("tf_logits")    // (S, 2, Vi+1)
	steps, n := fshape[0], fshape[1]
	per := 2 * n * m.Config.Logits()
	st, err := m.Decoder.NewState(state, text, n)
	if err != nil {
		t.Fatal(err)
	}
	var worst, scale float64
	for i := range steps {
		got, err := m.Decoder.Step(st, fed[i*n:(i+1)*n], i)
		if err != nil {
			t.Fatal(err)
		}
		d, s := maxDiff(got, logits[i*per:(i+1)*per])
		worst, scale = max(worst, d), max(scale, s)
	}
	t.Logf("teacher-forced logits, %d steps: max|Δ| %.3g (max|ref| %.3g)", steps, worst, scale)
	if worst > goldenLogitsRelTol*scale {
		t.Errorf("logits max|Δ| %g > %g", worst, goldenLogitsRelTol*scale)
	}

	vtok, vshape := ints("vqgan_tokens")
	raw, err := m.VQGAN.Decode(vtok, vshape[0], vshape[1])
	if err != nil {
		t.Fatal(err)
	}
	wantRaw, _ := f32("vqgan_raw")
	d, s = maxDiff(raw, wantRaw)
	t.Logf("VQGAN raw: max|Δ| %.3g (max|ref| %.3g)", d, s)
	if d > goldenVQGANRelTol*(1+s) {
		t.Errorf("VQGAN raw max|Δ| %g > %g", d, goldenVQGANRelTol*(1+s))
	}
	img, err := m.Image(vtok)
	if err != nil {
		t.Fatal(err)
	}
	u8, _ := ints("vqgan_u8") // (H, W, 3)
	off := 0
	for i, v := range u8 {
		p := img.Pix[i/3*4+i%3]
		if dv := int(p) - v; dv != 0 {
			if dv < -1 || dv > 1 {
				t.Fatalf("pixel value %d is %d, golden %d", i, p, v)
			}
			off++
		}
	}
	t.Logf("uint8 image: %d of %d values one level off", off, len(u8))
	if off > goldenU8Off {
		t.Errorf("%d uint8 values off by one, allowed %d", off, goldenU8Off)
	}
}
