package judge

import (
	"image"
	"math"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/weights"
)

// The goldens that training/train_critic.py --goldens computed in PyTorch
// from the embedded model's critic.
const criticGoldenFile = "../../testdata/golden/critic.safetensors"

func openCritic(t *testing.T) *Critic {
	t.Helper()
	var cfg CriticConfig
	f := openModel(t, "critic.config", &cfg)
	c, err := NewCritic(cfg, f.Sub("critic."))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCriticGolden compares the Go critic with PyTorch's on four rendered
// scenes, two of them with an object cut by the border: the flaw logits
// within 2e-4 + 2e-4·|want| (float32 sums in another order) and the scores
// within 1e-4 + 1e-4·|want|; PyTorch scores the cut scenes below the whole
// ones, and so must the engine.
func TestCriticGolden(t *testing.T) {
	g := openGolden(t, criticGoldenFile, "training/train_critic.py")
	c := openCritic(t)
	_, imgs, ishape := tensor(t, g, "images")
	flaws, _, _ := tensor(t, g, "flaws")
	scores, _, _ := tensor(t, g, "scores")
	got := make([]float64, ishape[0])
	for i := range got {
		img := goldenImage(imgs, i)
		f, err := c.Flaws(img)
		if err != nil {
			t.Fatal(err)
		}
		want := flaws[i*grid*grid : (i+1)*grid*grid]
		worst := 0.0
		for p := range f {
			d := math.Abs(float64(f[p] - want[p]))
			worst = max(worst, d)
			if d > 2e-4+2e-4*math.Abs(float64(want[p])) {
				t.Fatalf("image %d: flaw logit %d = %v, PyTorch %v", i, p, f[p], want[p])
			}
		}
		if got[i], err = c.Score(img); err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(got[i] - float64(scores[i])); d > 1e-4+1e-4*math.Abs(float64(scores[i])) {
			t.Errorf("image %d: score %v, PyTorch %v", i, got[i], scores[i])
		}
		t.Logf("image %d: flaw logits max |Δ| %.2g; score %.5f, PyTorch %.5f", i, worst, got[i], scores[i])
	}
	for _, cut := range []int{1, 3} {
		for _, whole := range []int{0, 2} {
			if got[cut] >= got[whole] {
				t.Errorf("cut scene %d scores %v, not below whole scene %d's %v", cut, got[cut], whole, got[whole])
			}
		}
	}
}

// Bad configs and missing tensors are errors, not panics.
func TestNewCriticErrors(t *testing.T) {
	f, err := weights.Open(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		cfg  CriticConfig
		want string
	}{
		{CriticConfig{Channels: []int{16, 32, 64}}, "want 4"},
		{CriticConfig{Channels: []int{16, 32, 0, 128}}, "positive"},
		{CriticConfig{Channels: []int{16, 32, 64, 64}}, "shape"},
	} {
		if _, err := NewCritic(c.cfg, f.Sub("critic.")); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want one saying %q", c.cfg, err, c.want)
		}
	}
	if _, err := NewCritic(CriticConfig{Channels: []int{16, 32, 64, 128}}, f.Sub("nothing.")); err == nil {
		t.Error("a critic without tensors loaded")
	}
	if _, err := openCritic(t).Score(image.NewRGBA(image.Rect(0, 0, 32, 32))); err == nil {
		t.Error("a 32×32 image was scored")
	}
}
