package vqgan

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The golden file is written by training/reference_vqgan.py (PyTorch 1.13.1,
// float32): the random weights of a reduced config, four 4×4 token maps, every
// stage of image 0, the raw images, min-dalle's uint8 grid, a seamless decode
// of the four maps tiled 8×8 and a non-square 3×5 decode.
const goldenPath = "../../testdata/golden/vqgan.safetensors"

// Stage tolerance: |go − torch| ≤ stageTol·(1 + max|torch stage|). Both sides
// compute in float32 but sum in different orders (gonum's Sgemm vs PyTorch's
// convolution, float64 vs Welford GroupNorm statistics); the reference script
// measures PyTorch float32 against float64 at ≤ 1.3e-5 absolute for stages up
// to |x| ≈ 11.5, i.e. ≈ 1e-6 of the stage's scale. 1e-5 leaves a 10× margin
// and is still far below any real bug (a wrong ε, scale or index moves values
// by ≥ 1e-3).
const stageTol = 1e-5

// maxOffByOne bounds the uint8 pixels that may differ by one from PyTorch's:
// a value within ~1e-4 of an integer boundary after ·255 can truncate either
// way when the float32 inputs differ in the last bits. More than 1 is a bug.
const maxOffByOne = 8

func loadGolden(t *testing.T) (*stFile, Config) {
	t.Helper()
	f, err := readST(goldenPath)
	if err != nil {
		t.Fatalf("golden file (regenerate with /usr/bin/python3 training/reference_vqgan.py): %v", err)
	}
	var cfg Config
	if err := json.Unmarshal([]byte(f.meta["config"]), &cfg); err != nil {
		t.Fatalf("golden config %q: %v", f.meta["config"], err)
	}
	return f, cfg
}

func goldenModel(t *testing.T) (*VQGAN, *stFile) {
	t.Helper()
	f, cfg := loadGolden(t)
	m, err := New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	return m, f
}

func goldenF32(t *testing.T, f *stFile, name string) ([]float32, []int) {
	t.Helper()
	d, s, err := f.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return d, s
}

func goldenInts(t *testing.T, f *stFile, name string) ([]int, []int) {
	t.Helper()
	d, s, err := f.ints(name)
	if err != nil {
		t.Fatal(err)
	}
	return d, s
}

// compare checks got against want within stageTol·(1 + max|want|) and
// returns the largest difference.
func compare(t *testing.T, what string, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return math.Inf(1)
	}
	var scale, worst float64
	worstAt := 0
	for i, w := range want {
		scale = max(scale, math.Abs(float64(w)))
		if d := math.Abs(float64(got[i]) - float64(w)); d > worst || math.IsNaN(d) {
			worst, worstAt = d, i
		}
	}
	if tol := stageTol * (1 + scale); !(worst <= tol) {
		t.Errorf("%s: max |diff| %.3g at %d (got %v, want %v) > tol %.3g", what, worst, worstAt, got[worstAt], want[worstAt], tol)
	}
	return worst
}

// toPixel is min-dalle's conversion: clip(x, 0, 1)·255 in float32, then
// truncation toward zero (torch .to(uint8)).
func toPixel(x float32) uint8 {
	x = min(max(x, 0), 1) * 255
	return uint8(x)
}

// gridU8 places n = g² raw (3, s, s) images into one (g·s, g·s, 3) HWC uint8
// image, image a·g+b at row block b, column block a (spec §8).
func gridU8(raws [][]float32, g, s int) []byte {
	out := make([]byte, g*s*g*s*3)
	for idx, raw := range raws {
		a, b := idx/g, idx%g
		for c := range 3 {
			for y := range s {
				for x := range s {
					Y, X := b*s+y, a*s+x
					out[(Y*g*s+X)*3+c] = toPixel(raw[(c*s+y)*s+x])
				}
			}
		}
	}
	return out
}

// comparePixels allows differences of one in at most maxOffByOne pixels.
func comparePixels(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d bytes, want %d", what, len(got), len(want))
	}
	off := 0
	for i := range got {
		d := int(got[i]) - int(want[i])
		switch {
		case d == 0:
		case d == 1 || d == -1:
			off++
		default:
			t.Fatalf("%s: byte %d is %d, want %d", what, i, got[i], want[i])
		}
	}
	t.Logf("%s: %d of %d values off by one", what, off, len(got))
	if off > maxOffByOne {
		t.Errorf("%s: %d values off by one, more than %d", what, off, maxOffByOne)
	}
}

func TestGoldenStages(t *testing.T) {
	for _, scratch := range []int{0, 1024} { // default; one row / few queries per strip
		t.Run(fmt.Sprintf("scratch=%d", scratch), func(t *testing.T) {
			m, f := goldenModel(t)
			m.ScratchBytes = scratch
			tokens, shape := goldenInts(t, f, "golden.tokens") // (4, rows, cols)
			rows, cols := shape[1], shape[2]
			var names []string
			out, err := m.DecodeTrace(tokens[:rows*cols], rows, cols, func(stage string, data []float32, shape []int) {
				names = append(names, stage)
				want, wshape := goldenF32(t, f, "golden.stage."+stage)
				if !slices.Equal(shape, wshape) {
					t.Errorf("stage %s: shape %v, want %v", stage, shape, wshape)
					return
				}
				worst := compare(t, stage, data, want)
				if scratch == 0 {
					t.Logf("%-16s %v max |diff| %.2e", stage, shape, worst)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, name := range f.Names() {
				if s, ok := strings.CutPrefix(name, "golden.stage."); ok {
					want = append(want, s)
				}
			}
			if len(names) != len(want) {
				t.Errorf("hook saw %d stages %v, golden has %d %v", len(names), names, len(want), want)
			}
			final, _ := goldenF32(t, f, "golden.stage.conv_out")
			compare(t, "Decode result", out, final)
		})
	}
}

func TestGoldenImagesAndGrid(t *testing.T) {
	m, f := goldenModel(t)
	tokens, shape := goldenInts(t, f, "golden.tokens")
	n, rows, cols := shape[0], shape[1], shape[2]
	wantRaw, _ := goldenF32(t, f, "golden.raw") // (n, 3, S, S)
	wantGrid, gshape, err := f.bytes("golden.grid_u8")
	if err != nil {
		t.Fatal(err)
	}
	s := rows * m.Config().Upscale()
	g := int(math.Sqrt(float64(n)))
	if g*g != n || rows != cols || gshape[0] != g*s {
		t.Fatalf("golden shapes %v / %v not a square grid", shape, gshape)
	}
	per := 3 * s * s
	var raws, torchRaws [][]float32
	for i := range n {
		raw, err := m.Decode(tokens[i*rows*cols:(i+1)*rows*cols], rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, fmt.Sprintf("image %d", i), raw, wantRaw[i*per:(i+1)*per])
		raws = append(raws, raw)
		torchRaws = append(torchRaws, wantRaw[i*per:(i+1)*per])
	}
	// The conversion rule itself must reproduce PyTorch's bytes exactly.
	if got := gridU8(torchRaws, g, s); !slices.Equal(got, wantGrid) {
		t.Fatal("clip·255 + truncation of PyTorch's own raw floats differs from its uint8 grid")
	}
	comparePixels(t, "grid", gridU8(raws, g, s), wantGrid)
}

func TestGoldenSeamless(t *testing.T) {
	m, f := goldenModel(t)
	tokens, shape := goldenInts(t, f, "golden.tokens")
	n, rows, cols := shape[0], shape[1], shape[2]
	g := int(math.Sqrt(float64(n)))
	// Tile the maps column-major: map a·g+b at token row block b, column block a.
	R, C := g*rows, g*cols
	tiled := make([]int, R*C)
	for idx := range n {
		a, b := idx/g, idx%g
		for y := range rows {
			for x := range cols {
				tiled[(b*rows+y)*C+a*cols+x] = tokens[(idx*rows+y)*cols+x]
			}
		}
	}
	raw, err := m.Decode(tiled, R, C)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := goldenF32(t, f, "golden.seamless.raw")
	compare(t, "seamless raw", raw, want)
	wantU8, _, err := f.bytes("golden.seamless.u8")
	if err != nil {
		t.Fatal(err)
	}
	S := R * m.Config().Upscale()
	comparePixels(t, "seamless", gridU8([][]float32{raw}, 1, S), wantU8)
}

func TestGoldenNonSquare(t *testing.T) {
	m, f := goldenModel(t)
	m.ScratchBytes = 2048
	tokens, shape := goldenInts(t, f, "golden.rect.tokens")
	raw, err := m.Decode(tokens, shape[0], shape[1])
	if err != nil {
		t.Fatal(err)
	}
	want, wshape := goldenF32(t, f, "golden.rect.raw")
	u := m.Config().Upscale()
	if !slices.Equal(wshape, []int{3, shape[0] * u, shape[1] * u}) {
		t.Fatalf("golden rect shape %v", wshape)
	}
	compare(t, "3×5 map", raw, want)
}

// TestThreadsAndConcurrency: the result must not depend on Threads or the
// scratch bound, and concurrent Decode calls must not disturb each other.
func TestThreadsAndConcurrency(t *testing.T) {
	m, f := goldenModel(t)
	tokens, shape := goldenInts(t, f, "golden.tokens")
	k := shape[1] * shape[2]
	m.Threads = 1
	ref, err := m.Decode(tokens[:k], shape[1], shape[2])
	if err != nil {
		t.Fatal(err)
	}
	m.Threads, m.ScratchBytes = 3, 4096
	var wg sync.WaitGroup
	outs := make([][]float32, 4)
	for i := range outs {
		wg.Go(func() {
			img := i % 2 // images 0 and 1, interleaved
			out, err := m.Decode(tokens[img*k:(img+1)*k], shape[1], shape[2])
			if err != nil {
				t.Error(err)
			}
			outs[i] = out
		})
	}
	wg.Wait()
	compare(t, "threads=3 vs 1", outs[0], ref)
	compare(t, "concurrent repeat", outs[2], outs[0])
	compare(t, "concurrent repeat, image 1", outs[3], outs[1])
	if slices.Equal(outs[0], outs[1]) {
		t.Error("images 0 and 1 decode to the same output")
	}
}

func randomSource(cfg Config, seed uint64) mapSource {
	rng := rand.New(rand.NewPCG(seed, 1))
	src := mapSource{}
	for name, shape := range Shapes(cfg) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64()) * 0.1
		}
		src[name] = mapTensor{data, shape}
	}
	return src
}

func tinyConfig() Config {
	return Config{Codebook: 10, CodeDim: 4, Base: 4, ChannelMult: []int{1, 2}, ResBlocks: 1,
		AttnLevels: []int{1}, Groups: 2, Eps: 1e-5}
}

func TestMinDalleSize(t *testing.T) {
	// 197 tensors and 46,709,891 parameters: min-dalle's VQGanDetokenizer
	// state dict (spec §2, counted with PyTorch).
	p := Shapes(MinDalle())
	total := 0
	for _, s := range p {
		n := 1
		for _, d := range s {
			n *= d
		}
		total += n
	}
	if len(p) != 197 || total != 46709891 {
		t.Errorf("min-dalle VQGAN: %d tensors, %d parameters; want 197, 46709891", len(p), total)
	}
	// ≈ 250 GFLOP for one 16×16 map (spec): within 5 %.
	if f := 2 * float64(MinDalle().MulAdds(16, 16)); math.Abs(f/250e9-1) > 0.05 {
		t.Errorf("min-dalle FLOPs %.4g, want ≈ 2.5e11", f)
	}
}

func TestGoldenNames(t *testing.T) {
	f, cfg := loadGolden(t)
	want := Shapes(cfg)
	for _, name := range f.Names() {
		if strings.HasPrefix(name, "golden.") {
			continue
		}
		shape, _ := f.Shape(name)
		s, ok := want[name]
		if !ok {
			t.Errorf("golden weight %q is not a state-dict name of the config", name)
		} else if !slices.Equal(s, shape) {
			t.Errorf("golden weight %q: shape %v, want %v", name, shape, s)
		}
		delete(want, name)
	}
	for name := range want {
		t.Errorf("golden file lacks %q", name)
	}
}

func TestNewErrors(t *testing.T) {
	cfg := tinyConfig()
	if _, err := New(cfg, randomSource(cfg, 1)); err != nil {
		t.Fatalf("complete source: %v", err)
	}
	if _, err := New(cfg, nil); err == nil {
		t.Error("nil source accepted")
	}
	for name := range Shapes(cfg) {
		src := randomSource(cfg, 1)
		delete(src, name)
		if _, err := New(cfg, src); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("missing %s: error %v does not name it", name, err)
		}
		src = randomSource(cfg, 1)
		tt := src[name]
		tt.shape = append(slices.Clone(tt.shape), 1)
		src[name] = tt
		if _, err := New(cfg, src); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("bad shape of %s: error %v does not name it", name, err)
		}
	}
	// Data shorter than its shape says.
	src := randomSource(cfg, 1)
	tt := src["decoder.conv_in.weight"]
	tt.data = tt.data[:len(tt.data)-1]
	src["decoder.conv_in.weight"] = tt
	if _, err := New(cfg, src); err == nil || !strings.Contains(err.Error(), "decoder.conv_in.weight") {
		t.Errorf("short data: %v", err)
	}
	bad := []func(*Config){
		func(c *Config) { c.Codebook = 0 },
		func(c *Config) { c.ChannelMult = nil },
		func(c *Config) { c.ChannelMult = []int{1, 0} },
		func(c *Config) { c.Groups = 3 },
		func(c *Config) { c.ResBlocks = 0 },
		func(c *Config) { c.AttnLevels = []int{2} },
		func(c *Config) { c.Eps = float32(math.NaN()) },
		func(c *Config) { c.Eps = -1 },
		// Sizes whose products overflow: 64 levels (Upscale 2^63), base ×
		// mult beyond int, a code dim × codebook beyond int.
		func(c *Config) { c.ChannelMult, c.AttnLevels = slices.Repeat([]int{1}, 64), nil },
		func(c *Config) { c.ChannelMult, c.AttnLevels = slices.Repeat([]int{1}, MaxLevels+1), nil },
		func(c *Config) { c.Base, c.ChannelMult, c.AttnLevels = 1<<40, []int{1 << 24}, nil },
		func(c *Config) { c.Codebook, c.CodeDim = 1<<40, 1<<30 },
	}
	for i, mod := range bad {
		c := tinyConfig()
		mod(&c)
		if _, err := New(c, randomSource(tinyConfig(), 1)); err == nil {
			t.Errorf("bad config %d (%+v) accepted", i, c)
		}
		if err := c.Validate(); err == nil {
			t.Errorf("bad config %d: Validate accepted it", i)
		}
	}
	// Upscale does not panic on a config Validate refuses for its levels.
	for _, n := range []int{0, MaxLevels + 1, 64, 100} {
		c := tinyConfig()
		c.ChannelMult = slices.Repeat([]int{1}, n)
		if u := c.Upscale(); u != 0 {
			t.Errorf("%d levels: Upscale() = %d, want 0", n, u)
		}
	}
	c := tinyConfig()
	c.ChannelMult, c.AttnLevels = slices.Repeat([]int{1}, MaxLevels), nil
	if err := c.Validate(); err != nil || c.Upscale() != 1<<(MaxLevels-1) {
		t.Errorf("%d levels: Validate() = %v, Upscale() = %d", MaxLevels, err, c.Upscale())
	}
}

func TestDecodeErrors(t *testing.T) {
	cfg := tinyConfig()
	m, err := New(cfg, randomSource(cfg, 2))
	if err != nil {
		t.Fatal(err)
	}
	ok := []int{0, 1, 2, 3, 4, 5}
	if out, err := m.Decode(ok, 2, 3); err != nil || len(out) != 3*4*6 {
		t.Fatalf("valid 2×3 map: %d values, %v", len(out), err)
	}
	cases := []struct {
		name       string
		tokens     []int
		rows, cols int
	}{
		{"token = codebook", []int{0, 1, 10, 3, 4, 5}, 2, 3},
		{"negative token", []int{0, -1, 2, 3, 4, 5}, 2, 3},
		{"too few tokens", ok[:5], 2, 3},
		{"too many tokens", ok, 2, 2},
		{"zero rows", nil, 0, 3},
		{"negative cols", ok, -2, -3},
		{"nil tokens", nil, 1, 1},
		{"overflowing map", ok, 1 << 62, 4},
	}
	for _, c := range cases {
		if out, err := m.Decode(c.tokens, c.rows, c.cols); err == nil {
			t.Errorf("%s: no error, %d values", c.name, len(out))
		}
	}
}

// FuzzDecode: any token map either decodes to (3, rows·U, cols·U) finite
// values or returns an error; nothing panics.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, 2, 2)
	f.Add([]byte{9, 10, 255}, 1, 3)
	f.Add([]byte{}, 0, 0)
	f.Add([]byte{1, 2, 3}, -1, -3)
	cfg := tinyConfig()
	m, err := New(cfg, randomSource(cfg, 3))
	if err != nil {
		f.Fatal(err)
	}
	m.ScratchBytes = 64
	f.Fuzz(func(t *testing.T, b []byte, rows, cols int) {
		if len(b) > 64 {
			return
		}
		tokens := make([]int, len(b))
		for i, v := range b {
			tokens[i] = int(v) - 2 // some negative, some ≥ Codebook
		}
		out, err := m.Decode(tokens, rows, cols)
		if err != nil {
			return
		}
		u := cfg.Upscale()
		if len(out) != 3*rows*u*cols*u {
			t.Fatalf("%d×%d map: %d values", rows, cols, len(out))
		}
		for _, v := range out {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("non-finite output %v", v)
			}
		}
	})
}

func TestReleaseWorkspace(t *testing.T) {
	cfg := tinyConfig()
	m, err := New(cfg, randomSource(cfg, 4))
	if err != nil {
		t.Fatal(err)
	}
	tokens := []int{1, 2, 3, 4}
	a, err := m.Decode(tokens, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.ws.free) == 0 || m.ws.col == nil {
		t.Error("workspace not kept after Decode")
	}
	m.ReleaseWorkspace()
	if len(m.ws.free) != 0 || m.ws.col != nil {
		t.Error("workspace not released")
	}
	b, err := m.Decode(tokens, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Error("decode after release differs")
	}
}

// BenchmarkDecodeMinDalle decodes one 16×16-token image with random weights
// of min-dalle's shapes (256×256 pixels, ≈ 124 G multiply-adds); threads =
// GOMAXPROCS (the -cpu flag). Reports GFLOPS (2 per multiply-add).
func BenchmarkDecodeMinDalle(b *testing.B) {
	cfg := MinDalle()
	m, err := New(cfg, randomSource(cfg, 1))
	if err != nil {
		b.Fatal(err)
	}
	tokens := make([]int, 256)
	for i := range tokens {
		tokens[i] = (i * 7919) % cfg.Codebook
	}
	if _, err := m.Decode(tokens, 16, 16); err != nil { // grow the workspace
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := m.Decode(tokens, 16, 16); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*float64(cfg.MulAdds(16, 16))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
}
