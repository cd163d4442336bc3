package benchmarks

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tessella-ml/tessella/generator"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// attentionPlots are the files plotAttention writes.
var attentionPlots = []string{"attention_gflops_vs_n.png", "attention_scratch_vs_n.png", "attention_roofline.png"}

// plotAttention writes three PNGs to dir, each rendered in memory and
// written with generator.WriteFileAtomic (an existing file is refused
// unless force):
//
//	attention_gflops_vs_n.png   GFLOP/s vs N for the sweep-N… shapes, one line per kernel/threads/d/causal
//	attention_scratch_vs_n.png  scratch bytes vs N (same lines, log scale)
//	attention_roofline.png      GFLOP/s vs arithmetic intensity (FLOP per byte of Q, K, V, Out)
//	                            for every measured point, under the measured peak and bandwidth roofs
//
// RunAttention has made dir and checked it before measuring.
func plotAttention(dir string, force bool, env *Env, threads []int, rs []AttentionResult) error {
	save := func(p *plot.Plot, name string) error {
		wt, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "png")
		if err != nil {
			return fmt.Errorf("attention plots: %s: %w", name, err)
		}
		var buf bytes.Buffer
		if _, err := wt.WriteTo(&buf); err != nil {
			return fmt.Errorf("attention plots: %s: %w", name, err)
		}
		if err := generator.WriteFileAtomic(filepath.Join(dir, name), buf.Bytes(), force); err != nil {
			return fmt.Errorf("attention plots: %w", err)
		}
		return nil
	}
	type series struct {
		name  string
		gf    plotter.XYs
		bytes plotter.XYs
	}
	var order []string
	lines := map[string]*series{}
	for _, r := range rs {
		if r.Skipped != "" || !strings.HasPrefix(r.Shape.Name, "sweep-") {
			continue
		}
		key := fmt.Sprintf("%s t%d d%d", r.Kernel, r.Threads, r.Shape.HeadDim)
		if r.Shape.Causal {
			key += " causal"
		}
		s := lines[key]
		if s == nil {
			s = &series{name: key}
			lines[key] = s
			order = append(order, key)
		}
		s.gf = append(s.gf, plotter.XY{X: float64(r.Shape.QLen), Y: r.GFLOPS})
		if r.ScratchBytes > 0 {
			s.bytes = append(s.bytes, plotter.XY{X: float64(r.Shape.QLen), Y: float64(r.ScratchBytes)})
		}
	}
	for _, s := range lines {
		slices.SortFunc(s.gf, func(a, b plotter.XY) int { return int(a.X - b.X) })
		slices.SortFunc(s.bytes, func(a, b plotter.XY) int { return int(a.X - b.X) })
	}
	if len(order) > 0 {
		p := plot.New()
		p.Title.Text = "attention: GFLOP/s vs N (batch 1, head 1)"
		p.X.Label.Text = "N (= q_len = kv_len)"
		p.Y.Label.Text = "GFLOP/s"
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
		var args []any
		for _, k := range order {
			args = append(args, k, lines[k].gf)
		}
		if err := plotutil.AddLinePoints(p, args...); err != nil {
			return fmt.Errorf("attention plots: %w", err)
		}
		if err := save(p, attentionPlots[0]); err != nil {
			return err
		}
		p = plot.New()
		p.Title.Text = "attention: scratch memory vs N"
		p.X.Label.Text = "N"
		p.Y.Label.Text = "scratch bytes"
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
		args = args[:0]
		for _, k := range order {
			if len(lines[k].bytes) > 0 {
				args = append(args, k, lines[k].bytes)
			}
		}
		if err := plotutil.AddLinePoints(p, args...); err != nil {
			return fmt.Errorf("attention plots: %w", err)
		}
		if err := save(p, attentionPlots[1]); err != nil {
			return err
		}
	}
	// Roofline at the largest thread count.
	t := slices.Max(threads)
	peak, bw := env.PeakGFLOPS[t], env.ReadGBs[t]
	p := plot.New()
	p.Title.Text = fmt.Sprintf("attention roofline, %d thread(s): peak %.0f GFLOP/s, read %.1f GB/s", t, peak, bw)
	p.X.Label.Text = "FLOP per byte of Q, K, V, Out"
	p.Y.Label.Text = "GFLOP/s"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
	byKernel := map[string]plotter.XYs{}
	var kernels []string
	minAI, maxAI := 1e9, 0.0
	for _, r := range rs {
		if r.Skipped != "" || r.Threads != t || r.GFLOPS <= 0 {
			continue
		}
		ai := r.Shape.FLOP() / r.Shape.IOBytes()
		minAI, maxAI = min(minAI, ai), max(maxAI, ai)
		if _, ok := byKernel[r.Kernel]; !ok {
			kernels = append(kernels, r.Kernel)
		}
		byKernel[r.Kernel] = append(byKernel[r.Kernel], plotter.XY{X: ai, Y: r.GFLOPS})
	}
	if len(kernels) == 0 || peak <= 0 || bw <= 0 {
		return nil
	}
	var roof plotter.XYs
	for ai := minAI / 2; ai <= maxAI*2; ai *= 1.25 {
		roof = append(roof, plotter.XY{X: ai, Y: min(peak, bw*ai)})
	}
	args := []any{"roof: min(peak, bandwidth·AI)", roof}
	if err := plotutil.AddLines(p, args...); err != nil {
		return fmt.Errorf("attention plots: %w", err)
	}
	var pts []any
	for _, k := range kernels {
		pts = append(pts, k, byKernel[k])
	}
	if err := plotutil.AddScatters(p, pts...); err != nil {
		return fmt.Errorf("attention plots: %w", err)
	}
	return save(p, attentionPlots[2])
}
