package trace

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"github.com/tessella-ml/tessella/model"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot colours (Okabe–Ito, readable by colour-blind viewers).
var plotColors = []color.RGBA{
	{0, 114, 178, 255}, {230, 159, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255}, {86, 180, 233, 255},
}

const (
	plotW = 9 * vg.Inch
	plotH = 3.2 * vg.Inch
)

func addLine(p *plot.Plot, xys plotter.XYs, name string, i int) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = plotColors[i%len(plotColors)]
	l.Width = vg.Points(1.2)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func addPoints(p *plot.Plot, xys plotter.XYs, name string, i int) error {
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return err
	}
	s.Color = plotColors[i%len(plotColors)]
	s.Shape = draw.CircleGlyph{}
	s.Radius = vg.Points(1.6)
	p.Add(s)
	p.Legend.Add(name, s)
	return nil
}

// plotProbs draws, per step, the probability mass of the 1, 2, 4 and 16
// most probable tokens after supercondition, top-k and temperature, and the
// probability of the sampled token.
func plotProbs(t *Trace, path string) error {
	p := plot.New()
	p.Title.Text = "Sampling distribution per step (after supercondition, top-k, temperature)"
	p.X.Label.Text = "step (image token index)"
	p.Y.Label.Text = "probability"
	p.Y.Min, p.Y.Max = 0, 1.45 // room for the legend above the curves
	p.Y.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"},
		{Value: 0.5, Label: "0.5"}, {Value: 0.75, Label: "0.75"}, {Value: 1, Label: "1"}}
	p.Legend.Top = true
	for li, k := range []int{1, 2, 4, model.TraceTop} {
		xys := make(plotter.XYs, len(t.Steps))
		for i, s := range t.Steps {
			var mass float64
			for _, tp := range s.Top[:min(k, len(s.Top))] {
				mass += float64(tp.Prob)
			}
			xys[i] = plotter.XY{X: float64(i), Y: mass}
		}
		if err := addLine(p, xys, fmt.Sprintf("top-%d mass", k), li); err != nil {
			return err
		}
	}
	chosen := make(plotter.XYs, len(t.Steps))
	for i, s := range t.Steps {
		chosen[i] = plotter.XY{X: float64(i), Y: float64(s.Prob)}
	}
	if err := addPoints(p, chosen, "p(sampled token)", 4); err != nil {
		return err
	}
	return savePlot(p, path)
}

// plotEntropy draws the entropy of each step's distribution and, for
// scale, ln of the number of logits kept by top-k (the entropy's maximum).
func plotEntropy(t *Trace, path string) error {
	p := plot.New()
	p.Title.Text = "Entropy of the sampling distribution"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "nats"
	p.Y.Min = 0
	p.Legend.Top = true
	ent, kept := make(plotter.XYs, len(t.Steps)), make(plotter.XYs, len(t.Steps))
	for i, s := range t.Steps {
		ent[i] = plotter.XY{X: float64(i), Y: s.Entropy}
		kept[i] = plotter.XY{X: float64(i), Y: math.Log(float64(max(s.Kept, 1)))}
		p.Y.Max = max(p.Y.Max, 1.35*kept[i].Y) // room for the legend
	}
	if err := addLine(p, ent, "entropy H = −Σ p ln p", 0); err != nil {
		return err
	}
	if err := addLine(p, kept, "ln(tokens kept by top-k) = max H", 1); err != nil {
		return err
	}
	return savePlot(p, path)
}

// plotRank draws the rank (0 = most probable) of each sampled token on a
// log axis (rank + 1).
func plotRank(t *Trace, path string) error {
	p := plot.New()
	p.Title.Text = "Rank of the sampled token among the mixed logits (1 = argmax)"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "rank + 1"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min = 1
	p.Legend.Top = true
	xys := make(plotter.XYs, len(t.Steps))
	for i, s := range t.Steps {
		r := float64(max(s.Rank, 0) + 1) // ≥ 1 for the log axis
		xys[i] = plotter.XY{X: float64(i), Y: r}
		p.Y.Max = max(p.Y.Max, r)
	}
	p.Y.Max = max(p.Y.Max*1.5, 10)
	if err := addPoints(p, xys, "rank + 1", 0); err != nil {
		return err
	}
	return savePlot(p, path)
}

// savePlot renders p as a PNG and writes it atomically (writeFile).
func savePlot(p *plot.Plot, path string) error {
	w, err := p.WriterTo(plotW, plotH, "png")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return err
	}
	return writeFile(path, buf.Bytes())
}

// plotFiles writes the three step plots into dir.
func plotFiles(t *Trace, dir string) error {
	for name, f := range map[string]func(*Trace, string) error{
		"steps_probs.png": plotProbs, "steps_entropy.png": plotEntropy, "steps_rank.png": plotRank,
	} {
		if err := f(t, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("trace: plot %s: %w", name, err)
		}
	}
	return nil
}
