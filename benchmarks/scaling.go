package benchmarks

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/tessella-ml/tessella/internal/matmul"
)

// ScalingShapes are the prefill and convolution shapes of GEMMShapes, the
// ones the thread-scaling goal is about (decode GEMVs are memory-bound).
var ScalingShapes = [][3]int{{64, 1024, 1024}, {128, 1024, 2730}, {4096, 128, 1152}, {65536, 128, 1152}, {1024, 1024, 1024}}

// ScalingOptions configures RunScaling. Zero fields take the defaults.
type ScalingOptions struct {
	Threads int      // the thread count compared with one thread (default 2)
	Rounds  int      // interleaved rounds (default 10)
	Shapes  [][3]int // (M, N, K) of y = x·Wᵀ, W packed once, each operand ≤ 1<<30 elements (default ScalingShapes)
	Format  string   // "md" (default) or "json"
}

// ScalingRow is one shape's (or the FMA loop's) figures over the rounds.
type ScalingRow struct {
	M, N, K    int     // zero for the FMA loop
	GFLOPS1    float64 // median over rounds, one thread
	GFLOPSN    float64 // median over rounds, Threads threads
	Median     float64 // median of the per-round ratios N ÷ 1
	Min, Max   float64 // their range
	FMALoop    bool    `json:",omitempty"`
	RatioPerFM float64 // Median ÷ the FMA loop's Median: the share of the machine's own scaling reached
}

// ScalingReport is what RunScaling measured.
type ScalingReport struct {
	CPU     string       `json:"cpu"`
	Tier    string       `json:"tier"`
	Threads int          `json:"threads"`
	Rounds  int          `json:"rounds"`
	Rows    []ScalingRow `json:"rows"`
}

// RunScaling measures how much faster Threads threads run each GEMM than
// one thread, in a way meant for a shared, noisy machine: each round times
// every shape on 1 and on Threads threads back to back (best of 3 calls
// each) and the FMA loop on both, and the report gives the median of the
// per-round ratios with their range. The FMA loop's ratio is the machine's
// own: when the host takes the second core away for a moment, it drops as
// the GEMM's does, so the GEMM's ratio reads against it.
func RunScaling(ctx context.Context, opts ScalingOptions, w io.Writer) error {
	rep, err := MeasureScaling(ctx, opts)
	if err != nil {
		return err
	}
	return WriteScaling(w, rep, opts.Format)
}

// MeasureScaling runs RunScaling's measurements.
func MeasureScaling(ctx context.Context, opts ScalingOptions) (*ScalingReport, error) {
	if opts.Threads == 0 {
		opts.Threads = 2
	}
	if opts.Rounds == 0 {
		opts.Rounds = 10
	}
	if opts.Shapes == nil {
		opts.Shapes = ScalingShapes
	}
	switch {
	case opts.Threads < 2:
		return nil, fmt.Errorf("bench scaling: --threads %d: compare at least 2 threads with 1", opts.Threads)
	case opts.Rounds < 1:
		return nil, fmt.Errorf("bench scaling: --rounds %d: need at least 1", opts.Rounds)
	}
	if err := mdOrJSON("bench scaling", opts.Format); err != nil {
		return nil, err
	}
	for _, s := range opts.Shapes {
		if err := checkMatmulShape(s); err != nil {
			return nil, fmt.Errorf("bench scaling: %w", err)
		}
	}
	tier := matmul.Best()
	e1, err := matmul.NewEngine(tier, 1)
	if err != nil {
		return nil, err
	}
	eN, err := matmul.NewEngine(tier, opts.Threads)
	if err != nil {
		return nil, err
	}
	prev := runtime.GOMAXPROCS(max(opts.Threads, runtime.GOMAXPROCS(0)))
	defer runtime.GOMAXPROCS(prev)

	type op struct {
		l1, lN *matmul.Linear
		x, y   []float32
		m      int
		flop   float64
	}
	r := rand.New(rand.NewPCG(1, 3))
	ops := make([]op, len(opts.Shapes))
	for i, s := range opts.Shapes {
		m, n, k := s[0], s[1], s[2]
		wt := randFloats(r, n*k)
		ops[i] = op{e1.NewLinear(wt, n, k), eN.NewLinear(wt, n, k), randFloats(r, m*k), make([]float32, m*n), m, 2 * float64(m) * float64(n) * float64(k)}
	}
	best := func(f func()) float64 {
		f()
		b := 0.0
		for i := range 3 {
			st := time.Now()
			f()
			if d := time.Since(st).Seconds(); i == 0 || d < b {
				b = d
			}
		}
		return b
	}
	g1 := make([][]float64, len(ops)+1) // per row: GFLOPS per round; last row the FMA loop
	gN := make([][]float64, len(ops)+1)
	ratio := make([][]float64, len(ops)+1)
	const fmaTime = 50 * time.Millisecond
	for range opts.Rounds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p1 := matmul.PeakGFLOPS(tier, 1, fmaTime)
		for i, o := range ops {
			a := o.flop / best(func() { o.l1.Forward(o.y, o.x, o.m) }) / 1e9
			b := o.flop / best(func() { o.lN.Forward(o.y, o.x, o.m) }) / 1e9
			g1[i], gN[i], ratio[i] = append(g1[i], a), append(gN[i], b), append(ratio[i], b/a)
		}
		pN := matmul.PeakGFLOPS(tier, opts.Threads, fmaTime)
		f := len(ops)
		g1[f], gN[f], ratio[f] = append(g1[f], p1), append(gN[f], pN), append(ratio[f], pN/p1)
	}
	rep := &ScalingReport{CPU: cpuModel(), Tier: tier.String(), Threads: opts.Threads, Rounds: opts.Rounds}
	fma := median(ratio[len(ops)])
	for i := range ratio {
		row := ScalingRow{GFLOPS1: median(g1[i]), GFLOPSN: median(gN[i]), Median: median(ratio[i]),
			Min: slices.Min(ratio[i]), Max: slices.Max(ratio[i])}
		if i < len(ops) {
			row.M, row.N, row.K = opts.Shapes[i][0], opts.Shapes[i][1], opts.Shapes[i][2]
		} else {
			row.FMALoop = true
		}
		if fma > 0 {
			row.RatioPerFM = row.Median / fma
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// median of v (the mean of the middle two for an even count).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// WriteScaling writes rep as a Markdown table ("md" or "") or JSON
// ("json"); a nil report or another format is an error, and nothing is
// written.
func WriteScaling(w io.Writer, rep *ScalingReport, format string) error {
	if md, err := startReport(w, "bench scaling", rep, rep == nil, format, " "); !md {
		return err
	}
	fmt.Fprintf(w, "CPU: %s; tier %s; %d threads vs 1; %d interleaved rounds (best of 3 calls per cell)\n\n", rep.CPU, rep.Tier, rep.Threads, rep.Rounds)
	fmt.Fprintf(w, "| M,N,K | 1 thread GFLOPS | %d threads GFLOPS | %d ÷ 1 (median) | range | ÷ FMA loop's |\n|---|---|---|---|---|---|\n", rep.Threads, rep.Threads)
	for _, r := range rep.Rows {
		name := fmt.Sprintf("%d,%d,%d", r.M, r.N, r.K)
		if r.FMALoop {
			name = "FMA loop (the machine)"
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.2f | %.2f–%.2f | %.2f |\n", name, r.GFLOPS1, r.GFLOPSN, r.Median, r.Min, r.Max, r.RatioPerFM)
	}
	return nil
}
