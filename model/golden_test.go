package model

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/model/vqgan"
	"github.com/tessella-ml/tessella/weights"
)

// The goldens are written by training/reference_model.py (an independent
// PyTorch implementation, cross-checked against min-dalle's own modules).

type stTensor struct {
	shape []int
	f32   []float32
	i64   []int
}

// readST reads the F32 and I64 tensors of a safetensors file.
func readST(t *testing.T, path string) (map[string]stTensor, map[string]string) {
	t.Helper()
	f, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	out := map[string]stTensor{}
	for _, name := range f.Names() {
		ten, _ := f.Tensor(name)
		ts := stTensor{shape: ten.Shape}
		switch ten.DType {
		case weights.F32:
			ts.f32, err = ten.Float32()
		case weights.I64:
			ts.i64, err = ten.Ints()
		default:
			t.Fatalf("%s: %s: unsupported dtype %s", path, name, ten.DType)
		}
		if err != nil {
			t.Fatal(err)
		}
		out[name] = ts
	}
	return out, f.Metadata()
}

type golden struct {
	cfg      Config
	enc, dec *MemSource
	g        map[string]stTensor
	dropped  []string
}

func loadGolden(t *testing.T) *golden {
	t.Helper()
	dir := filepath.Join("..", "testdata", "golden")
	w, meta := readST(t, filepath.Join(dir, "transformer_weights.safetensors"))
	g, _ := readST(t, filepath.Join(dir, "transformer.safetensors"))
	cfg, err := MergeJSON(Mini(), []byte(meta["config"]))
	if err != nil {
		t.Fatal(err)
	}
	gd := &golden{cfg: cfg, enc: NewMemSource(), dec: NewMemSource(), g: g, dropped: strings.Split(meta["dropped"], ",")}
	for name, ts := range w {
		part, rest, _ := strings.Cut(name, ".")
		src := gd.enc
		if part == "decoder" {
			src = gd.dec
		}
		if err := src.Set(rest, ts.f32, ts.shape...); err != nil {
			t.Fatal(err)
		}
	}
	return gd
}

func (gd *golden) f32(t *testing.T, name string) []float32 {
	t.Helper()
	ts, ok := gd.g[name]
	if !ok || ts.f32 == nil {
		t.Fatalf("golden has no float32 tensor %s", name)
	}
	return ts.f32
}

func (gd *golden) ints(t *testing.T, name string) ([]int, []int) {
	t.Helper()
	ts, ok := gd.g[name]
	if !ok || ts.i64 == nil {
		t.Fatalf("golden has no int64 tensor %s", name)
	}
	return ts.i64, ts.shape
}

func (gd *golden) text(t *testing.T) [][]int {
	ids, shape := gd.ints(t, "text_tokens")
	return [][]int{ids[:shape[1]], ids[shape[1]:]}
}

// maxDiff returns max|a−b| and max|b|.
func maxDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = max(scale, math.Abs(float64(b[i])))
	}
	return diff, scale
}

func TestGoldenConfigInferred(t *testing.T) {
	gd := loadGolden(t)
	got, err := InferConfig(gd.enc, gd.dec)
	if err != nil {
		t.Fatal(err)
	}
	if !configEqual(got, gd.cfg) {
		t.Errorf("InferConfig = %+v\nwant %+v", got, gd.cfg)
	}
	for _, name := range gd.dropped {
		part, rest, _ := strings.Cut(name, ".")
		src := gd.enc
		if part == "decoder" {
			src = gd.dec
		}
		if src.Has(rest) {
			t.Errorf("golden weights still hold dropped tensor %s", name)
		}
	}
	if len(gd.dropped) < 5 {
		t.Errorf("only %d dropped tensors; the missing-LayerNorm rule is not exercised", len(gd.dropped))
	}
}

func configEqual(a, b Config) bool {
	va, vb := a.VQGAN, b.VQGAN
	a.VQGAN, b.VQGAN = vqgan.Config{}, vqgan.Config{}
	return reflect.DeepEqual(a, b) && va.Codebook == vb.Codebook && va.CodeDim == vb.CodeDim && va.Base == vb.Base &&
		slices.Equal(va.ChannelMult, vb.ChannelMult) && slices.Equal(va.AttnLevels, vb.AttnLevels) &&
		va.ResBlocks == vb.ResBlocks && va.Groups == vb.Groups && va.Eps == vb.Eps
}

// Encoder state: LayerNorm outputs of size O(1) after 2 layers of fp32
// matmuls; float32 rounding differences between gonum and OpenBLAS sums,
// float64 vs float32 LayerNorm statistics and float64 erf give ~1e-6;
// 1e-4 absolute leaves margin while any real bug (a wrong mask, a missing
// LayerNorm default) moves values by > 1e-2.
const encoderTol = 1e-4

// Logits are O(1–5); the decoder adds 2 layers and cross-attention on top of
// the encoder, so the bound is relative to the largest logit: 1e-4·scale.
const logitsRelTol = 1e-4

func TestGoldenEncoder(t *testing.T) {
	gd := loadGolden(t)
	enc, err := NewEncoder(gd.cfg, gd.enc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := enc.Forward(gd.text(t))
	if err != nil {
		t.Fatal(err)
	}
	want := gd.f32(t, "encoder_state")
	if len(got) != len(want) {
		t.Fatalf("encoder state has %d values, want %d", len(got), len(want))
	}
	d, s := maxDiff(got, want)
	t.Logf("encoder state: max|Δ| = %.3g (max|ref| = %.3g)", d, s)
	if d > encoderTol {
		t.Errorf("encoder state max|Δ| = %g > %g", d, encoderTol)
	}
}

func TestGoldenTeacherForced(t *testing.T) {
	gd := loadGolden(t)
	dec, err := NewDecoder(gd.cfg, gd.dec)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncoder(gd.cfg, gd.enc)
	if err != nil {
		t.Fatal(err)
	}
	text := gd.text(t)
	goEnc, err := enc.Forward(text)
	if err != nil {
		t.Fatal(err)
	}
	fed, shape := gd.ints(t, "tf_tokens") // (steps, n)
	steps, n := shape[0], shape[1]
	want := gd.f32(t, "tf_logits") // (steps, 2n, Vi+1)
	per := 2 * n * gd.cfg.Logits()
	// From the reference's encoder state (decoder alone) and from ours.
	for _, from := range []struct {
		name  string
		state []float32
	}{{"reference encoder state", gd.f32(t, "encoder_state")}, {"Go encoder state", goEnc}} {
		st, err := dec.NewState(from.state, text, n)
		if err != nil {
			t.Fatal(err)
		}
		var worst, scale float64
		for i := range steps {
			logits, err := dec.Step(st, fed[i*n:(i+1)*n], i)
			if err != nil {
				t.Fatal(err)
			}
			d, s := maxDiff(logits, want[i*per:(i+1)*per])
			worst, scale = max(worst, d), max(scale, s)
		}
		t.Logf("%s: teacher-forced logits over %d steps, n=%d: max|Δ| = %.3g (max|ref| = %.3g)", from.name, steps, n, worst, scale)
		if worst > logitsRelTol*scale {
			t.Errorf("%s: logits max|Δ| = %g > %g", from.name, worst, logitsRelTol*scale)
		}
	}
}

type fixedNoise struct{ e []float32 }

func (f *fixedNoise) Exponential(dst []float32) {
	copy(dst, f.e)
	f.e = f.e[len(dst):]
}

func TestGoldenSampler(t *testing.T) {
	gd := loadGolden(t)
	W := gd.cfg.Codebook()
	s, err := NewSampler(W)
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for c := 0; ; c++ {
		p := fmt.Sprintf("sampler.%d.", c)
		if _, ok := gd.g[p+"logits"]; !ok {
			break
		}
		cases++
		logits := gd.f32(t, p+"logits")
		o := gd.f32(t, p+"options")
		opts := SampleOptions{Temperature: o[0], TopK: int(o[1]), Supercondition: o[2]}
		want, _ := gd.ints(t, p+"tokens")
		noise := gd.f32(t, p+"noise")
		seed, _ := gd.ints(t, p+"seed")
		n := len(want)

		// The recorded noise is TorchRNG's, bit for bit.
		e := make([]float32, len(noise))
		NewTorchRNG(uint64(seed[0])).Exponential(e)
		if !slices.Equal(e, noise) {
			t.Errorf("case %d: TorchRNG(%d) noise differs from torch's", c, seed[0])
		}
		for _, src := range []struct {
			name string
			nz   Noise
		}{{"recorded noise", &fixedNoise{noise}}, {"TorchRNG", NewTorchRNG(uint64(seed[0]))}} {
			got := make([]int, n)
			if err := s.Sample(got, logits, gd.cfg.Logits(), opts, src.nz); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("case %d %+v (%s): tokens %v, torch.multinomial gave %v", c, opts, src.name, got, want)
			}
		}
	}
	if cases < 5 {
		t.Fatalf("only %d sampler cases in the golden", cases)
	}
}

func TestGoldenRuns(t *testing.T) {
	gd := loadGolden(t)
	m, err := NewModel(gd.cfg, gd.enc, gd.dec, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := gd.text(t)
	for _, n := range []int{1, 4} {
		p := fmt.Sprintf("run%d.", n)
		want, _ := gd.ints(t, p+"tokens") // (n, ImageTokens)
		seed, _ := gd.ints(t, p+"seed")
		o := gd.f32(t, p+"options")
		opts := SampleOptions{Temperature: o[0], TopK: int(o[1]), Supercondition: o[2]}
		calls := 0
		got, err := m.GenerateTokens(context.Background(), text, n, opts, NewTorchRNG(uint64(seed[0])),
			func(step int, tokens [][]int) {
				if step != calls || len(tokens) != n {
					t.Errorf("onStep(%d, %d rows) at call %d", step, len(tokens), calls)
				}
				calls++
			})
		if err != nil {
			t.Fatal(err)
		}
		if calls != gd.cfg.ImageTokens {
			t.Errorf("onStep called %d times, want %d", calls, gd.cfg.ImageTokens)
		}
		flat := slices.Concat(got...)
		if !slices.Equal(flat, want) {
			first := 0
			for first < len(flat) && flat[first] == want[first] {
				first++
			}
			t.Errorf("n=%d seed %d: sampled tokens differ from torch's, first at flat index %d", n, seed[0], first)
		}
		if n == 4 {
			tiled, err := TileTokens(got, 2, gd.cfg.GridSide())
			if err != nil {
				t.Fatal(err)
			}
			wantTiled, _ := gd.ints(t, "run4.tiled")
			if !slices.Equal(tiled, wantTiled) {
				t.Errorf("TileTokens differs from the reference's column-major tiling")
			}
		}
	}
}

func TestGoldenExponential(t *testing.T) {
	gd := loadGolden(t)
	seen := 0
	for name, ts := range gd.g {
		s, ok := strings.CutPrefix(name, "exp.")
		if !ok {
			continue
		}
		var seed uint64
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(ts.f32))
		NewTorchRNG(seed).Exponential(got)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(ts.f32[i]) {
				t.Errorf("seed %d draw %d: %g, torch %g", seed, i, got[i], ts.f32[i])
				break
			}
		}
		seen++
	}
	if seen < 3 {
		t.Fatalf("only %d exponential seeds in the golden", seen)
	}
}
