package judge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/weights"
)

// The embedded default model (it carries the judge) and the goldens that
// training/train_judge.py --goldens computed from it in PyTorch.
const (
	modelFile  = "../../generator/local/defaultmodel/default.safetensors"
	goldenFile = "../../testdata/golden/judge.safetensors"
)

// openModel opens the embedded model file (closed when the test ends) and
// decodes its metadata key's JSON into cfg.
func openModel(t *testing.T, key string, cfg any) *weights.File {
	t.Helper()
	f, err := weights.Open(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := json.Unmarshal([]byte(f.Metadata()[key]), cfg); err != nil {
		t.Fatalf("%s: %s: %v", modelFile, key, err)
	}
	return f
}

func openJudge(t *testing.T) *Judge {
	t.Helper()
	var cfg Config
	f := openModel(t, "judge.config", &cfg)
	j, err := New(cfg, f.Sub("judge."))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// openGolden opens a golden file (closed when the test ends) and checks
// that script computed it from the embedded model file.
func openGolden(t *testing.T, path, script string) *weights.File {
	t.Helper()
	data, err := os.ReadFile(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	g, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if want := g.Metadata()["model_sha256"]; want != sum {
		t.Fatalf("%s was computed from another model file (sha256 %s, the embedded one is %s): rerun %s --goldens", path, want, sum, script)
	}
	return g
}

// goldenImage is image i of a golden (n, Size, Size, 3) uint8 tensor, opaque.
func goldenImage(imgs []int, i int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, Size, Size))
	for p := 0; p < Size*Size; p++ {
		for c := 0; c < 3; c++ {
			img.Pix[4*p+c] = byte(imgs[(i*Size*Size+p)*3+c])
		}
		img.Pix[4*p+3] = 255
	}
	return img
}

func tensor(t *testing.T, f *weights.File, name string) ([]float32, []int, []int) {
	t.Helper()
	ten, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("%s: no tensor %s", goldenFile, name)
	}
	if ten.DType == weights.I64 || ten.DType == weights.U8 {
		ints, err := ten.Ints()
		if err != nil {
			t.Fatal(err)
		}
		return nil, ints, ten.Shape
	}
	fl, err := ten.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return fl, nil, ten.Shape
}

// TestGolden compares the Go judge with PyTorch's on four scenes and two
// captions each: the image memory m (64, W) within 2e-4 + 2e-4·|want|
// (float32 sums in another order; LayerNorm output is O(1)), the scores
// (sums of ≈ 15 log-probabilities) within 1e-3 + 1e-4·|want|, and the
// order of the two captions' scores where PyTorch's differ by more than
// 2e-3.
func TestGolden(t *testing.T) {
	g := openGolden(t, goldenFile, "training/train_judge.py")
	j := openJudge(t)
	w := j.cfg.Width
	_, imgs, ishape := tensor(t, g, "images")
	_, ids, idShape := tensor(t, g, "ids")
	mem, _, _ := tensor(t, g, "memory")
	scores, _, _ := tensor(t, g, "scores")
	n, tl := ishape[0], idShape[2]
	for i := 0; i < n; i++ {
		img := goldenImage(imgs, i)
		m, err := j.imageTokens(img)
		if err != nil {
			t.Fatal(err)
		}
		want := mem[i*64*w : (i+1)*64*w]
		worst := 0.0
		for p := range m {
			d := math.Abs(float64(m[p] - want[p]))
			worst = max(worst, d)
			if d > 2e-4+2e-4*math.Abs(float64(want[p])) {
				t.Fatalf("image %d: memory[%d] = %v, PyTorch %v", i, p, m[p], want[p])
			}
		}
		t.Logf("image %d: memory max |Δ| %.2g", i, worst)
		mm, err := j.ImageMemory(img)
		if err != nil {
			t.Fatal(err)
		}
		var got [2]float64
		for c := 0; c < 2; c++ {
			row := ids[(i*2+c)*tl : (i*2+c+1)*tl]
			if got[c], err = j.Score(row, mm); err != nil {
				t.Fatal(err)
			}
			want := float64(scores[i*2+c])
			if d := math.Abs(got[c] - want); d > 1e-3+1e-4*math.Abs(want) {
				t.Errorf("image %d caption %d: score %v, PyTorch %v", i, c, got[c], want)
			}
		}
		t.Logf("image %d: scores %v, PyTorch %v", i, got, scores[i*2:i*2+2])
		if gap := math.Abs(float64(scores[i*2] - scores[i*2+1])); gap > 2e-3 && (got[0] > got[1]) != (scores[i*2] > scores[i*2+1]) {
			t.Errorf("image %d: the captions' order differs from PyTorch's (%v vs %v)", i, got, scores[i*2:i*2+2])
		}
	}
}

// TestConvMatchesDirect checks the im2col convolution against the
// definition, on random data with every border case.
func TestConvMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const in, out, side = 3, 5, 7
	c := conv{w: make([]float32, out*in*9), b: make([]float32, out), in: in, out: out}
	x := make([]float32, in*side*side)
	for _, s := range [][]float32{c.w, c.b, x} {
		for i := range s {
			s[i] = rng.Float32()*2 - 1
		}
	}
	got := c.forward(x, side)
	for o := 0; o < out; o++ {
		for yy := 0; yy < side; yy++ {
			for xx := 0; xx < side; xx++ {
				want := float64(c.b[o])
				for ci := 0; ci < in; ci++ {
					for ky := 0; ky < 3; ky++ {
						for kx := 0; kx < 3; kx++ {
							sy, sx := yy+ky-1, xx+kx-1
							if sy < 0 || sy >= side || sx < 0 || sx >= side {
								continue
							}
							want += float64(c.w[((o*in+ci)*3+ky)*3+kx]) * float64(x[(ci*side+sy)*side+sx])
						}
					}
				}
				if g := got[(o*side+yy)*side+xx]; math.Abs(float64(g)-want) > 1e-5 {
					t.Fatalf("out %d at (%d,%d): %v, want %v", o, yy, xx, g, want)
				}
			}
		}
	}
	p := pool2([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 1, 4)
	if want := []float32{3.5, 5.5, 11.5, 13.5}; !slices.Equal(p, want) {
		t.Errorf("pool2 = %v, want %v", p, want)
	}
}

// TestBadInput: wrong image sizes, tokens outside the vocabulary, empty
// and overlong captions and invalid configs are errors, not panics.
func TestBadInput(t *testing.T) {
	j := openJudge(t)
	for _, bad := range []*image.RGBA{nil, image.NewRGBA(image.Rect(0, 0, Size, Size/2))} {
		if _, err := j.ImageMemory(bad); err == nil {
			t.Errorf("image %v accepted", bad)
		}
	}
	mem, err := j.ImageMemory(image.NewRGBA(image.Rect(0, 0, Size, Size)))
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][]int{{0, -5, 2}, {0, j.cfg.TextVocab, 2}, {1, 1, 1}, {0, 1, 1}, make([]int, j.cfg.TextLen+1)} {
		if _, err := j.Score(ids, mem); err == nil {
			t.Errorf("Score(%v) accepted", ids)
		}
	}
	if _, err := j.Score([]int{0, 2}, &Memory{}); err == nil {
		t.Error("a memory of no layers was accepted")
	}
	// A memory of the right layers but other sizes (another judge's) is
	// refused, not read past its end.
	short := &Memory{k: make([][]float32, len(mem.k)), v: make([][]float32, len(mem.v))}
	for l := range mem.k {
		short.k[l], short.v[l] = mem.k[l][:len(mem.k[l])/2], mem.v[l][:len(mem.v[l])/2]
	}
	if _, err := j.Score([]int{0, 2}, short); err == nil {
		t.Error("a memory of half the width was accepted")
	}
	// A longer memory (a wider judge's) is refused too, not read in part.
	long := &Memory{k: make([][]float32, len(mem.k)), v: make([][]float32, len(mem.v))}
	for l := range mem.k {
		long.k[l] = append(append([]float32(nil), mem.k[l]...), mem.k[l]...)
		long.v[l] = append(append([]float32(nil), mem.v[l]...), mem.v[l]...)
	}
	if _, err := j.Score([]int{0, 2}, long); err == nil {
		t.Error("a memory of twice the width was accepted")
	}
	if _, err := j.Score([]int{0, 2}, &Memory{k: mem.k, v: mem.v[:1]}); err == nil {
		t.Error("a memory with fewer value layers than key layers was accepted")
	}
	good := j.cfg
	for name, mod := range map[string]func(*Config){
		"heads":    func(c *Config) { c.Heads = 3 },
		"channels": func(c *Config) { c.Channels = c.Channels[:3] },
		"eps":      func(c *Config) { c.LayerNormEps = 0 },
		"vocab":    func(c *Config) { c.TextVocab = 0 },
	} {
		c := good
		c.Channels = append([]int(nil), good.Channels...)
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
	f, err := weights.Open(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := New(good, f.Sub("encoder.")); err == nil || !strings.Contains(err.Error(), "missing tensor") {
		t.Errorf("New on the encoder's tensors: %v, want a missing-tensor error", err)
	}
}
