package benchmarks

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessella-ml/tessella/internal/matmul"
)

// GEMMShapes are the model's matrix-multiply shapes (M, N, K): decode
// (M = 2), prefill, the VQGAN's im2col convolutions, and a square one.
var GEMMShapes = [][3]int{
	{2, 1024, 1024}, {2, 2730, 1024}, {2, 16385, 1024},
	{64, 1024, 1024}, {128, 1024, 2730},
	{4096, 128, 1152}, {65536, 128, 1152},
	{1024, 1024, 1024},
}

// Weight layouts of the B operand.
const (
	// LayoutNK is W (N, K) as nn.Linear stores it: y = x·Wᵀ through
	// matmul.Linear, W packed once before timing (as the model runs).
	LayoutNK = "nk"
	// LayoutKN is B (K, N) row-major through matmul.Gemm (packed per call).
	LayoutKN = "kn"
)

// GEMMOptions configures RunGEMM. Zero fields take the defaults.
type GEMMOptions struct {
	Threads  []int         // thread counts (default 1, 2); GOMAXPROCS is set to each in turn
	Format   string        // "md" (default), "csv" or "json"
	Shapes   [][3]int      // (M, N, K), each operand at most 1<<30 elements; default GEMMShapes
	Layouts  []string      // LayoutNK, LayoutKN; default both
	Backends []string      // "gonum", "avx2", "avx512" (and "openblas" in an openblas build); default all available
	MinTime  time.Duration // minimum time per sample (default 200 ms); one call if a call is longer
	Samples  int           // timed samples per cell, median reported (default 3)
	PeakTime time.Duration // duration of the FMA peak measurement (default 300 ms)
	BWBytes  int           // buffer streamed by the read-bandwidth probe (default 256 MB; <0 skips)
	Progress func(string)  // optional progress callback (one line per cell)
	rng      *rand.Rand    // tests: fixed seed
}

// GEMMResult is one measured cell.
type GEMMResult struct {
	M, N, K     int
	Layout      string
	Backend     string
	Threads     int
	Seconds     float64 // median seconds per call
	GFLOPS      float64 // 2·M·N·K / Seconds / 1e9
	PeakPct     float64 // 100·GFLOPS / peak for Threads
	VsGonum     float64 // GFLOPS / gonum's GFLOPS in the same cell (0 if gonum not run)
	MaxRelError float64 // max |C − C_gonum| / max |C_gonum| (0 for gonum itself)
	// WeightGBs is N·K·4 bytes / Seconds / 1e9 and BWPct its share of the
	// measured read bandwidth: the yardstick for decode (M ≤ 8), where
	// every weight is streamed once per call.
	WeightGBs float64
	BWPct     float64
}

// GEMMReport is everything RunGEMM measured.
type GEMMReport struct {
	CPU     string             `json:"cpu"`
	Tier    string             `json:"best_tier"`
	Peak    map[string]float64 `json:"peak_gflops"` // threads → FMA-loop GFLOPS
	ReadBW  map[string]float64 `json:"read_gbs"`    // threads → read-only streaming GB/s
	BLAS    string             `json:"openblas,omitempty"`
	Results []GEMMResult       `json:"results"`
}

// backends known to this build.
func gemmBackends() []string {
	bs := []string{"gonum"}
	for _, t := range []matmul.Tier{matmul.AVX2, matmul.AVX512} {
		if matmul.Available(t) {
			bs = append(bs, t.String())
		}
	}
	if openblasAvailable {
		bs = append(bs, "openblas")
	}
	return bs
}

func (o *GEMMOptions) defaults() error {
	if len(o.Threads) == 0 {
		o.Threads = []int{1, 2}
	}
	for _, t := range o.Threads {
		if t < 1 {
			return fmt.Errorf("gemm bench: thread count %d < 1", t)
		}
	}
	if o.Format == "" {
		o.Format = "md"
	}
	if o.Format != "md" && o.Format != "csv" && o.Format != "json" {
		return fmt.Errorf("gemm bench: unknown format %q (md, csv, json)", o.Format)
	}
	if len(o.Shapes) == 0 {
		o.Shapes = GEMMShapes
	}
	for _, s := range o.Shapes {
		if err := checkMatmulShape(s); err != nil {
			return fmt.Errorf("gemm bench: %w", err)
		}
	}
	if len(o.Layouts) == 0 {
		o.Layouts = []string{LayoutNK, LayoutKN}
	}
	for _, l := range o.Layouts {
		if l != LayoutNK && l != LayoutKN {
			return fmt.Errorf("gemm bench: unknown layout %q (nk, kn)", l)
		}
	}
	avail := gemmBackends()
	if len(o.Backends) == 0 {
		o.Backends = avail
	}
	for _, b := range o.Backends {
		if !slices.Contains(avail, b) {
			return fmt.Errorf("gemm bench: backend %q not available in this build/CPU (have %s)", b, strings.Join(avail, ", "))
		}
	}
	if o.MinTime <= 0 {
		o.MinTime = 200 * time.Millisecond
	}
	if o.Samples <= 0 {
		o.Samples = 3
	}
	if o.PeakTime <= 0 {
		o.PeakTime = 300 * time.Millisecond
	}
	if o.BWBytes == 0 {
		o.BWBytes = 256 << 20
	}
	if o.rng == nil {
		o.rng = rand.New(rand.NewPCG(1, 2))
	}
	return nil
}

// RunGEMM measures every (shape, layout, thread count, backend) cell and
// writes the table to w in opts.Format. It sets GOMAXPROCS to each thread
// count in turn (gonum's only thread control) and restores it.
func RunGEMM(ctx context.Context, opts GEMMOptions, w io.Writer) error {
	rep, err := MeasureGEMM(ctx, opts)
	if err != nil {
		return err
	}
	if opts.Format == "" {
		opts.Format = "md"
	}
	return WriteGEMM(w, rep, opts.Format)
}

// MeasureGEMM runs the measurements of RunGEMM and returns them.
func MeasureGEMM(ctx context.Context, opts GEMMOptions) (*GEMMReport, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	rep := &GEMMReport{CPU: cpuModel(), Tier: matmul.Best().String(), Peak: map[string]float64{}, ReadBW: map[string]float64{}}
	peakTier := matmul.Best()
	if peakTier == matmul.Gonum && matmul.Available(matmul.AVX2) {
		peakTier = matmul.AVX2
	}
	if slices.Contains(opts.Backends, "openblas") {
		rep.BLAS = OpenBLASInfo()
	}
	for _, t := range opts.Threads {
		runtime.GOMAXPROCS(t)
		rep.Peak[strconv.Itoa(t)] = matmul.PeakGFLOPS(peakTier, t, opts.PeakTime)
		if opts.BWBytes > 0 {
			rep.ReadBW[strconv.Itoa(t)] = matmul.ReadBandwidth(opts.BWBytes, t, 3)
		}
	}
	for _, s := range opts.Shapes {
		m, n, k := s[0], s[1], s[2]
		a := randFloats(opts.rng, m*k)
		wt := randFloats(opts.rng, n*k) // the weight, N×K
		for _, layout := range opts.Layouts {
			b := wt
			if layout == LayoutKN {
				b = transpose(wt, n, k) // K×N, the same matrix
			}
			for _, t := range opts.Threads {
				runtime.GOMAXPROCS(t)
				var ref []float32
				var gonumG float64
				cells := make([]GEMMResult, 0, len(opts.Backends))
				for _, be := range opts.Backends {
					if err := ctx.Err(); err != nil {
						return nil, err
					}
					c := make([]float32, m*n)
					call, err := gemmCall(be, layout, t, m, n, k, a, b, c)
					if err != nil {
						return nil, err
					}
					sec := timeCall(call, opts.MinTime, opts.Samples)
					r := GEMMResult{M: m, N: n, K: k, Layout: layout, Backend: be, Threads: t, Seconds: sec}
					r.GFLOPS = 2 * float64(m) * float64(n) * float64(k) / sec / 1e9
					if p := rep.Peak[strconv.Itoa(t)]; p > 0 {
						r.PeakPct = 100 * r.GFLOPS / p
					}
					r.WeightGBs = float64(n) * float64(k) * 4 / sec / 1e9
					if bw := rep.ReadBW[strconv.Itoa(t)]; bw > 0 {
						r.BWPct = 100 * r.WeightGBs / bw
					}
					if be == "gonum" {
						ref, gonumG = c, r.GFLOPS
					} else if ref != nil {
						r.MaxRelError = maxRelErr(c, ref)
					}
					cells = append(cells, r)
					if opts.Progress != nil {
						opts.Progress(fmt.Sprintf("%dx%dx%d %s %s t=%d: %.1f GFLOPS", m, n, k, layout, be, t, r.GFLOPS))
					}
				}
				for i := range cells {
					if gonumG > 0 {
						cells[i].VsGonum = cells[i].GFLOPS / gonumG
					}
				}
				rep.Results = append(rep.Results, cells...)
			}
		}
	}
	return rep, nil
}

// gemmCall returns one call of backend be on the layout; W is packed
// before timing for LayoutNK.
func gemmCall(be, layout string, threads, m, n, k int, a, b, c []float32) (func(), error) {
	tier := map[string]matmul.Tier{"gonum": matmul.Gonum, "avx2": matmul.AVX2, "avx512": matmul.AVX512, "openblas": matmul.OpenBLAS}[be]
	e, err := matmul.NewEngine(tier, threads)
	if err != nil {
		return nil, err
	}
	if layout == LayoutNK {
		l := e.NewLinear(b, n, k)
		return func() { l.Forward(c, a, m) }, nil
	}
	return func() { e.Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) }, nil
}

// timeCall returns the median seconds per call over samples samples of at
// least minTime each (after one warm-up call, which is itself the only
// sample when a call takes longer than minTime·samples).
func timeCall(f func(), minTime time.Duration, samples int) float64 {
	st := time.Now()
	f()
	first := time.Since(st)
	if first >= minTime*time.Duration(samples) {
		return first.Seconds()
	}
	per := make([]float64, 0, samples)
	for s := 0; s < samples; s++ {
		n := 0
		st := time.Now()
		for time.Since(st) < minTime || n == 0 {
			f()
			n++
		}
		per = append(per, time.Since(st).Seconds()/float64(n))
	}
	slices.Sort(per)
	return per[len(per)/2]
}

func randFloats(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

// transpose returns the cols×rows transpose of the rows×cols matrix x.
func transpose(x []float32, rows, cols int) []float32 {
	t := make([]float32, len(x))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = x[i*cols+j]
		}
	}
	return t
}

func maxRelErr(c, ref []float32) float64 {
	var d, mx float64
	for i := range ref {
		d = max(d, abs64(float64(c[i])-float64(ref[i])))
		mx = max(mx, abs64(float64(ref[i])))
	}
	if mx == 0 {
		return d
	}
	return d / mx
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// WriteGEMM writes rep as a Markdown table ("md"), CSV ("csv") or JSON
// ("json"); a nil report or another format is an error, and nothing is
// written.
func WriteGEMM(w io.Writer, rep *GEMMReport, format string) error {
	if rep == nil {
		return fmt.Errorf("gemm bench: no report to write")
	}
	switch format {
	case "json":
		return writeJSON(w, rep, "  ")
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"m", "n", "k", "layout", "backend", "threads", "seconds", "gflops", "peak_pct", "vs_gonum", "max_rel_err", "weight_gbs", "bw_pct"})
		for _, r := range rep.Results {
			cw.Write([]string{
				strconv.Itoa(r.M), strconv.Itoa(r.N), strconv.Itoa(r.K), r.Layout, r.Backend, strconv.Itoa(r.Threads),
				strconv.FormatFloat(r.Seconds, 'g', 6, 64), strconv.FormatFloat(r.GFLOPS, 'f', 2, 64),
				strconv.FormatFloat(r.PeakPct, 'f', 1, 64), strconv.FormatFloat(r.VsGonum, 'f', 2, 64),
				strconv.FormatFloat(r.MaxRelError, 'g', 3, 64),
				strconv.FormatFloat(r.WeightGBs, 'f', 2, 64), strconv.FormatFloat(r.BWPct, 'f', 1, 64),
			})
		}
		cw.Flush()
		return cw.Error()
	case "md":
		var sb strings.Builder
		fmt.Fprintf(&sb, "CPU: %s; best tier: %s; FMA-loop peak:", rep.CPU, rep.Tier)
		keys := make([]string, 0, len(rep.Peak))
		for t := range rep.Peak {
			keys = append(keys, t)
		}
		slices.SortFunc(keys, func(x, y string) int { a, _ := strconv.Atoi(x); b, _ := strconv.Atoi(y); return a - b })
		for _, t := range keys {
			fmt.Fprintf(&sb, " %s thread(s) %.0f GFLOPS;", t, rep.Peak[t])
		}
		sb.WriteString(" read bandwidth:")
		for _, t := range keys {
			fmt.Fprintf(&sb, " %s thread(s) %.1f GB/s;", t, rep.ReadBW[t])
		}
		if rep.BLAS != "" {
			fmt.Fprintf(&sb, " %s;", rep.BLAS)
		}
		sb.WriteString("\n\n| M,N,K | layout | threads | backend | GFLOPS | % peak | × gonum | weight GB/s (% read BW) | max rel err |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range rep.Results {
			vs := "–"
			if r.VsGonum > 0 {
				vs = fmt.Sprintf("%.2f", r.VsGonum)
			}
			bw := "–"
			if r.M <= 8 {
				bw = fmt.Sprintf("%.1f (%.0f%%)", r.WeightGBs, r.BWPct)
			}
			fmt.Fprintf(&sb, "| %d,%d,%d | %s | %d | %s | %.1f | %.0f%% | %s | %s | %.1e |\n",
				r.M, r.N, r.K, r.Layout, r.Threads, r.Backend, r.GFLOPS, r.PeakPct, vs, bw, r.MaxRelError)
		}
		_, err := io.WriteString(w, sb.String())
		return err
	}
	return fmt.Errorf("gemm bench: unknown format %q (md, csv, json)", format)
}
