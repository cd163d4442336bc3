package weights_test

import (
	"context"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/weights"
)

// convertModel converts the flat model folder src (encoder, decoder and
// detoker .safetensors, vocab.json, merges.txt, config.json) to dt in a
// new folder, returning it and the weights' total size in bytes.
func convertModel(t *testing.T, src string, dt weights.DType) (string, int64) {
	t.Helper()
	dir := t.TempDir()
	var size int64
	for _, name := range []string{"vocab.json", "merges.txt", "config.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"encoder", "decoder", "detoker"} {
		out := filepath.Join(dir, name+".safetensors")
		if err := weights.ConvertFile(context.Background(), filepath.Join(src, name+".safetensors"), out, dt, weights.ConvertOptions{}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		size += st.Size()
	}
	return dir, size
}

// relRMS is √(Σ(x̂−x)² / Σx²) over the floating-point tensors of two
// files with the same names (x from a, x̂ from b).
func relRMS(t *testing.T, a, b string) float64 {
	t.Helper()
	fa, err := weights.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := weights.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	var num, den float64
	for _, name := range fa.Names() {
		x, _, err := fa.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		y, _, err := fb.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range x {
			d := float64(y[i]) - float64(x[i])
			num += d * d
			den += float64(x[i]) * float64(x[i])
		}
	}
	return math.Sqrt(num / den)
}

// meanAbsDiff is the mean |Δ| over the RGB bytes of two images of one size.
func meanAbsDiff(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	ra, rb := a.(*image.RGBA), b.(*image.RGBA)
	if ra.Rect != rb.Rect {
		t.Fatalf("images %v and %v", ra.Rect, rb.Rect)
	}
	var sum, n float64
	for i := range ra.Pix {
		if i%4 == 3 {
			continue
		}
		d := float64(ra.Pix[i]) - float64(rb.Pix[i])
		sum += max(d, -d)
		n++
	}
	return sum / n
}

// The precision study of docs/models.md: testdata/engine's tiny model
// (width 64, one layer each, VQGAN 16×16 tokens → 32×32 pixels) converted
// from fp32 to each dtype, then for several seeds, with --rng go:
//
//   - the decoder's weights: relative RMS error √(Σ(x̂−x)²/Σx²);
//   - token agreement: the share of the 256 image tokens equal to fp32's,
//     and the first position where they differ;
//   - end-to-end pixel error: mean |Δ| (0–255) of the whole generation;
//   - VQGAN pixel error: mean |Δ| of the converted VQGAN decoding the fp32
//     tokens (the VQGAN's own error, free of sampling divergence).
//
// fp32 must reproduce the original exactly. The bounds on the others are
// loose (a few times the measured figures) so that a broken conversion
// fails while an honest one passes.
func TestPrecisionQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("the precision study generates 4 dtypes × 16 seeds")
	}
	src := filepath.Join("..", "testdata", "engine", "safetensors")
	ref, err := local.Open(local.Options{Model: src, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	const prompt = "a red star over two blue rings"
	gen := func(e *local.Engine, seed uint64) *generator.Result {
		res, err := e.Generate(context.Background(), &generator.Request{Prompt: prompt, Seed: &seed, RNG: "go", Scale: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var refs []*generator.Result
	for _, s := range seeds {
		refs = append(refs, gen(ref, s))
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| dtype | weights (bytes) | decoder weights, relative RMS error | token agreement | first differing token (mean) | pixel mean abs diff, end to end | pixel mean abs diff, VQGAN on fp32 tokens |\n|---|---|---|---|---|---|---|\n")
	for _, dt := range []weights.DType{weights.F32, weights.F16, weights.BF16, weights.Q8} {
		dir, size := convertModel(t, src, dt)
		rms := relRMS(t, filepath.Join(src, "decoder.safetensors"), filepath.Join(dir, "decoder.safetensors"))
		eng, err := local.Open(local.Options{Model: dir, Threads: 1})
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		var same, total, first int
		var e2e, vq float64
		for i, s := range seeds {
			res := gen(eng, s)
			want := refs[i].Tokens[0]
			got := res.Tokens[0]
			f := len(got)
			for j := range got {
				if got[j] == want[j] {
					same++
				} else if f == len(got) {
					f = j
				}
			}
			total += len(got)
			first += f
			e2e += meanAbsDiff(t, res.Images[0].Image, refs[i].Images[0].Image)
			img, err := eng.Decode(context.Background(), [][]int{want}, false, 1)
			if err != nil {
				t.Fatal(err)
			}
			vq += meanAbsDiff(t, img, refs[i].Images[0].Image)
		}
		eng.Close()
		n := float64(len(seeds))
		agree := float64(same) / float64(total)
		e2e, vq = e2e/n, vq/n
		fmt.Fprintf(&table, "| %s | %d | %.2g | %.1f %% | %.0f | %.2f | %.3f |\n", strings.ToLower(string(dt)), size, rms, 100*agree, float64(first)/n, e2e, vq)
		switch dt {
		case weights.F32:
			if agree != 1 || e2e != 0 || vq != 0 || rms != 0 {
				t.Errorf("f32: agreement %.3f, pixel errors %.3f, %.3f; want an exact copy", agree, e2e, vq)
			}
		default:
			if vq > 1.5 {
				t.Errorf("%s: the VQGAN alone moves pixels by %.3f on average (allowed 1.5)", dt, vq)
			}
			if rms > 0.01 {
				t.Errorf("%s: decoder weights moved by %.3g (relative RMS), allowed 0.01", dt, rms)
			}
			if agree < 0.25 {
				t.Errorf("%s: only %.1f %% of tokens agree with fp32", dt, 100*agree)
			}
		}
	}
	t.Logf("precision study (%d seeds, prompt %q):\n%s", len(seeds), prompt, table.String())
}
