package model

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tessella-ml/tessella/internal/matmul"
	"github.com/tessella-ml/tessella/weights"
)

// engineModel loads testdata/engine's tiny model (the shapes its files
// give) with the Linear weights kept in dt.
func engineModel(t *testing.T, dt WeightDType) *Model {
	t.Helper()
	dir := filepath.Join("..", "testdata", "engine", "safetensors")
	var src [2]*weights.File
	for i, name := range []string{"encoder.safetensors", "decoder.safetensors"} {
		f, err := weights.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		src[i] = f
	}
	cfg, err := InferConfig(src[0], src[1])
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = MergeJSON(cfg, js); err != nil {
		t.Fatal(err)
	}
	m, err := NewModelWithOptions(cfg, src[0], src[1], nil, Options{WeightDType: dt})
	if err != nil {
		t.Fatalf("%s: %v", dt, err)
	}
	return m
}

// relErr is ‖a − b‖₂ / ‖b‖₂.
func relErr(a, b []float32) float64 {
	var d, n float64
	for i := range b {
		e := float64(a[i]) - float64(b[i])
		d += e * e
		n += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(d / n)
}

func engineText(cfg Config) [][]int {
	rows := [][]int{make([]int, cfg.TextLen), make([]int, cfg.TextLen)}
	for i := range rows[0] {
		rows[0][i], rows[1][i] = cfg.TextPad, cfg.TextPad
	}
	rows[0][0], rows[0][1] = 0, 2
	for i := 1; i < min(cfg.TextLen-1, 7); i++ {
		rows[1][i] = (i*37 + 11) % cfg.TextVocab
	}
	rows[1][0] = 0
	rows[1][min(cfg.TextLen-1, 7)] = 2
	return rows
}

// TestWeightDTypeQuality compares the f16, bf16 and q8 models with f32 on
// testdata/engine's tiny model:
//
//   - encoder output and, teacher-forced on f32's tokens, every decoder
//     step's logits: relative L2 error ‖Δ‖/‖f32‖ (max over steps) must stay
//     below 4·10⁻³ (f16), 2·10⁻² (bf16), 6·10⁻² (q8): 2.5–5 times what was
//     measured (f16 0.37/0.73·10⁻³, bf16 2.8/6.2·10⁻³, q8 9.5/24·10⁻³ for
//     encoder/logits), far below what a wrong kernel gives (≈ 1);
//   - free-running generation (Go RNG, 4 seeds × 256 tokens, temperature 1,
//     top-k 16): the share of image tokens equal to f32's, logged (measured
//     99.2 % f16, 78.7 % bf16, 77.4 % q8); it must be ≥ 80 % for f16 and
//     ≥ 40 % for bf16/q8 (once a token flips, sampling diverges);
//   - the decoder's Linear weights take ≤ 0.55 (f16, bf16) and ≤ 0.32
//     (q8) of the f32 bytes.
func TestWeightDTypeQuality(t *testing.T) {
	ref := engineModel(t, WeightF32)
	cfg := ref.Config
	text := engineText(cfg)
	refEnc, err := ref.Encoder.Forward(text)
	if err != nil {
		t.Fatal(err)
	}
	opts := SampleOptions{Temperature: 1, TopK: 16, Supercondition: 4}
	seeds := []uint64{1, 2, 3, 4}
	var refToks [][][]int
	for _, s := range seeds {
		toks, err := ref.GenerateTokens(context.Background(), text, 1, opts, NewGoRNG(s), nil)
		if err != nil {
			t.Fatal(err)
		}
		refToks = append(refToks, toks)
	}
	// f32 logits along the first seed's tokens.
	teacher := func(m *Model) [][]float32 {
		encState, err := m.Encoder.Forward(text)
		if err != nil {
			t.Fatal(err)
		}
		st, err := m.Decoder.NewState(encState, text, 1)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]float32
		prev := []int{cfg.ImageBOS}
		for i := range cfg.ImageTokens {
			lg, err := m.Decoder.Step(st, prev, i)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, append([]float32(nil), lg...))
			prev[0] = refToks[0][0][i]
		}
		return out
	}
	refLogits := teacher(ref)
	refBytes := ref.Decoder.LinearBytes()
	for _, c := range []struct {
		dt            WeightDType
		tol, agree    float64
		bytesFraction float64
	}{
		{WeightF16, 4e-3, 0.8, 0.55},
		{WeightBF16, 2e-2, 0.4, 0.55},
		{WeightQ8, 6e-2, 0.4, 0.32},
	} {
		m := engineModel(t, c.dt)
		enc, err := m.Encoder.Forward(text)
		if err != nil {
			t.Fatal(err)
		}
		encErr := relErr(enc, refEnc)
		var logitErr float64
		for i, lg := range teacher(m) {
			logitErr = max(logitErr, relErr(lg, refLogits[i]))
		}
		same, total := 0, 0
		for k, s := range seeds {
			toks, err := m.GenerateTokens(context.Background(), text, 1, opts, NewGoRNG(s), nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, tok := range toks[0] {
				if tok == refToks[k][0][i] {
					same++
				}
				total++
			}
		}
		agree := float64(same) / float64(total)
		frac := float64(m.Decoder.LinearBytes()) / float64(refBytes)
		t.Logf("%-4s encoder rel. error %.2g, logits rel. error (max over %d steps) %.2g, token agreement %.1f %% of %d, decoder Linear bytes %.3f of f32",
			c.dt, encErr, cfg.ImageTokens, logitErr, 100*agree, total, frac)
		if !(encErr <= c.tol) || !(logitErr <= c.tol) {
			t.Errorf("%s: encoder error %.3g, logits error %.3g; allowed %.3g", c.dt, encErr, logitErr, c.tol)
		}
		if agree < c.agree {
			t.Errorf("%s: token agreement %.1f %% < %.0f %%", c.dt, 100*agree, 100*c.agree)
		}
		if frac > c.bytesFraction {
			t.Errorf("%s: decoder Linear weights are %.3f of f32's bytes, want ≤ %.2f", c.dt, frac, c.bytesFraction)
		}
	}
	if _, err := ParseWeightDType("q4"); err == nil {
		t.Error("ParseWeightDType(q4) accepted")
	}
	if _, err := NewModelWithOptions(cfg, nil, nil, nil, Options{WeightDType: "q4"}); err == nil {
		t.Error("NewModelWithOptions accepted weight dtype q4")
	}
}

// TestFusedLinearsExact: a Linear over stacked weights (the self-attention's
// [Wq; Wk; Wv], the GLU's [fc0; fc1]) gives bit for bit the outputs of the
// separate Linears, for every weight precision, decode and prefill row
// counts, one and two threads, and widths that are not multiples of the
// kernels' panels. (Gonum's kernels, the portable fallback, sum in an order
// that depends on where a row starts in memory: there the test asks for
// agreement within float32 accumulation error, 2k·2⁻²⁴·Σ|x||w|.)
func TestFusedLinearsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, dt := range []matmul.DType{matmul.F32, matmul.F16, matmul.BF16, matmul.Q8} {
		for _, threads := range []int{1, 2} {
			eng, err := matmul.NewEngine(matmul.Default().Tier(), threads)
			if err != nil {
				t.Fatal(err)
			}
			exact := eng.Tier() != matmul.Gonum
			for _, sh := range [][3]int{{2, 64, 48}, {2, 45, 70}, {128, 64, 48}, {5, 37, 33}} {
				m, n, k := sh[0], sh[1], sh[2]
				parts := make([][]float32, 3)
				stacked := make([]float32, 0, 3*n*k)
				for i := range parts {
					parts[i] = make([]float32, n*k)
					for j := range parts[i] {
						parts[i][j] = float32(rng.NormFloat64())
					}
					stacked = append(stacked, parts[i]...)
				}
				x := make([]float32, m*k)
				for j := range x {
					x[j] = float32(rng.NormFloat64())
				}
				fused := make([]float32, m*3*n)
				eng.NewLinearDType(dt, stacked, 3*n, k).Forward(fused, x, m)
				for i, w := range parts {
					y := make([]float32, m*n)
					eng.NewLinearDType(dt, w, n, k).Forward(y, x, m)
					for r := range m {
						for c := range n {
							a, b := fused[r*3*n+i*n+c], y[r*n+c]
							var scale float64 // Σ|x||w| of this output
							for p := range k {
								scale += math.Abs(float64(x[r*k+p]) * float64(w[c*k+p]))
							}
							if exact && math.Float32bits(a) != math.Float32bits(b) || !exact && !(math.Abs(float64(a-b)) <= float64(2*k)*0x1p-24*scale) {
								t.Fatalf("%v, %d threads, (%d,%d,%d): part %d row %d col %d: fused %g, separate %g", dt, threads, m, n, k, i, r, c, a, b)
							}
						}
					}
				}
			}
		}
	}
}
