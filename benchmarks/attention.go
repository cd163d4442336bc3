package benchmarks

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessella-ml/tessella/attention"
	"github.com/tessella-ml/tessella/internal/atomicfile"
)

// AttentionOptions configures RunAttention. Zero values take the defaults
// noted on each field.
type AttentionOptions struct {
	// Kernels by name (attention.Kernels: reference, plain, naive, online,
	// flash, decode). Default: naive, online, flash, and decode on shapes
	// with at most 4 query rows.
	Kernels []string
	// Shapes by name (see ParseAttentionShape). Default: DefaultAttentionShapes.
	Shapes []string
	// Threads to run each kernel with. Default: 1 and 2.
	Threads []int
	// Format of the output: md (default), csv or json.
	Format string
	// PlotDir, if set, receives PNG plots: GFLOP/s vs N, scratch vs N,
	// roofline (attentionPlots), each written atomically. If any of them
	// already exists there the run is refused before anything is measured,
	// unless Force is set; so is, with Force, one that could not be
	// replaced (a folder, a link to one).
	PlotDir string
	// Force lets the plots replace existing files of the same names.
	Force bool
	// Peer is a CSV written by attention_peer.py; its times are shown as
	// the ratio peer time / kernel time per shape and thread count. It is
	// read, and a time that is not a positive finite number refused,
	// before anything is measured.
	Peer string
	// Grid sets the model shapes' batch to 2·Grid² (default 1).
	Grid int
	// MinTime is the least time spent timing one kernel×shape×threads
	// (default 300 ms), after one warm-up call.
	MinTime time.Duration
	// CheckRows is how many query rows (the first and last halves) are
	// compared with the float64 reference when a shape has more (default 32).
	CheckRows int
	// SlowFLOP skips the reference, plain and online kernels on calls of
	// more FLOP than this (default 2e9); MaxScratch skips a kernel whose
	// scratch would exceed it (default 512 MiB; naive's N×N buffer).
	SlowFLOP   float64
	MaxScratch int
	// ColdBytes is the total K+V footprint that a -cold shape rotates
	// through, one copy per call (default 4 × the last-level cache size read
	// from /sys/devices/system/cpu/cpu0/cache, 4 × 32 MiB if unreadable,
	// at most 4 GiB; at least 2 copies).
	ColdBytes int64
}

// AttentionResult is one kernel × shape × thread-count measurement.
type AttentionResult struct {
	Kernel  string         `json:"kernel"`
	Shape   AttentionShape `json:"shape"`
	Threads int            `json:"threads"`
	// Skipped, if not empty, says why nothing was measured.
	Skipped string `json:"skipped,omitempty"`
	Calls   int    `json:"calls"`
	// MeanS and SdS are the per-call time's mean and standard deviation
	// over the timed samples, in seconds.
	MeanS float64 `json:"mean_s"`
	SdS   float64 `json:"sd_s"`
	// GFLOPS is Shape.FLOP()/MeanS; PctPeak relates it to the environment's
	// measured peak at the same thread count.
	GFLOPS  float64 `json:"gflops"`
	PctPeak float64 `json:"pct_peak"`
	// CPUGFLOPS is FLOP per CPU-second of the whole process (getrusage),
	// a per-core rate that time spent descheduled on a shared machine does
	// not dilute; PctCPUPeak relates it to Env.PeakCPUGFLOPS[1].
	CPUGFLOPS  float64 `json:"cpu_gflops"`
	PctCPUPeak float64 `json:"pct_cpu_peak"`
	// GBs is K and V bytes / MeanS, reported for decode shapes; PctBW
	// relates it to the measured read bandwidth at the same thread count.
	// CPUGBs is K and V bytes per CPU-second (compare Env.ReadCPUGBs[1]).
	GBs    float64 `json:"gbs,omitempty"`
	PctBW  float64 `json:"pct_bw,omitempty"`
	CPUGBs float64 `json:"cpu_gbs,omitempty"`
	// ScratchBytes is the kernel's own statement (attention.ScratchSizer),
	// −1 if it makes none; AllocBytes is runtime.MemStats.TotalAlloc per call.
	ScratchBytes int     `json:"scratch_bytes"`
	AllocBytes   float64 `json:"alloc_bytes_per_call"`
	// MaxAbsErr and NMSE = Σ(out−ref)²/Σref² against attention.Reference
	// on CheckedRows query rows.
	MaxAbsErr   float64 `json:"max_abs_err"`
	NMSE        float64 `json:"nmse"`
	CheckedRows int     `json:"checked_rows"`
	// PeerS is the peer's mean time (0 without one); PeerRatio = PeerS/MeanS
	// (> 1: this kernel is faster).
	PeerS     float64 `json:"peer_s,omitempty"`
	PeerRatio float64 `json:"peer_ratio,omitempty"`
	// For -cold shapes: ColdCopies independent K/V pairs (ColdBytes in all)
	// were used in turn, one per call. ColdReadGBs is the read bandwidth of
	// a plain stream (the environment probe's loop) over those same copies
	// with the same thread count, measured right after the kernel; PctColdBW
	// relates GBs to it. (The environment's probe streams 128 MiB, which can
	// fit in a large last-level cache; this one cannot.)
	ColdCopies  int     `json:"cold_copies,omitempty"`
	ColdBytes   float64 `json:"cold_bytes,omitempty"`
	ColdReadGBs float64 `json:"cold_read_gbs,omitempty"`
	PctColdBW   float64 `json:"pct_cold_bw,omitempty"`
}

func (o *AttentionOptions) defaults() error {
	if len(o.Shapes) == 0 {
		o.Shapes = DefaultAttentionShapes
	}
	if len(o.Threads) == 0 {
		o.Threads = []int{1, 2}
	}
	for _, t := range o.Threads {
		if t <= 0 {
			return fmt.Errorf("attention bench: thread count %d must be positive", t)
		}
	}
	if o.Format == "" {
		o.Format = "md"
	}
	if o.Format != "md" && o.Format != "csv" && o.Format != "json" {
		return fmt.Errorf("attention bench: format %q: want md, csv or json", o.Format)
	}
	if o.Grid <= 0 {
		o.Grid = 1
	}
	if o.MinTime <= 0 {
		o.MinTime = 300 * time.Millisecond
	}
	if o.CheckRows <= 0 {
		o.CheckRows = 32
	}
	if o.SlowFLOP <= 0 {
		o.SlowFLOP = 2e9
	}
	if o.MaxScratch <= 0 {
		o.MaxScratch = 512 << 20
	}
	if o.ColdBytes <= 0 {
		o.ColdBytes = min(4*llcBytes(), 4<<30)
	}
	for _, k := range o.Kernels {
		if attention.KernelByName(k) == nil {
			return fmt.Errorf("attention bench: unknown kernel %q", k)
		}
	}
	return nil
}

// RunAttention measures the environment, then every kernel × shape ×
// thread count, and writes the environment block and a results table to w
// in opts.Format, plus PNG plots to opts.PlotDir if set. Options, shapes,
// the peer file and the plot folder (writable, no existing plot unless
// opts.Force) are checked before anything is measured.
func RunAttention(ctx context.Context, opts AttentionOptions, w io.Writer) error {
	if err := opts.defaults(); err != nil {
		return err
	}
	shapes := make([]AttentionShape, len(opts.Shapes))
	for i, name := range opts.Shapes {
		s, err := ParseAttentionShape(name, opts.Grid)
		if err != nil {
			return err
		}
		shapes[i] = s
	}
	if opts.PlotDir != "" { // a folder the plots cannot go into is refused now, not after the run
		if err := os.MkdirAll(opts.PlotDir, 0o755); err != nil {
			return fmt.Errorf("bench attention: plots: %w", err)
		}
		// Each plot is written like atomicfile.Write(path, Force): check
		// each as that write would go (with Force through a link at the
		// path, the temporary file beside the file it leads to).
		paths := make([]string, len(attentionPlots))
		for k, name := range attentionPlots {
			path := filepath.Join(opts.PlotDir, name)
			if err := atomicfile.Check(path, opts.Force); errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("bench attention: plots: %s already exists (use --force to overwrite): %w", path, fs.ErrExist)
			} else if err != nil {
				return fmt.Errorf("bench attention: plots: %w", err)
			}
			paths[k] = path
		}
		// Links to one file: the later plot would replace the earlier.
		if i, j, found := atomicfile.Collision(paths, opts.Force); found {
			return fmt.Errorf("bench attention: plots: %s and %s lead to the same file", paths[i], paths[j])
		}
	}
	var peer map[string]float64
	if opts.Peer != "" {
		var err error
		if peer, err = readPeer(opts.Peer); err != nil {
			return err
		}
	}
	env, err := MeasureEnv(ctx, opts.Threads)
	if err != nil {
		return err
	}
	var results []AttentionResult
	for _, s := range shapes {
		for _, t := range opts.Threads {
			for _, kn := range kernelsFor(opts.Kernels, s) {
				if err := ctx.Err(); err != nil {
					return err
				}
				r, err := measure(ctx, attention.KernelByName(kn), s, t, &opts, env)
				if err != nil {
					return fmt.Errorf("attention bench %s/%s/%d threads: %w", kn, s.Name, t, err)
				}
				if p, ok := peer[peerKey(s.Name, t)]; ok && r.MeanS > 0 {
					r.PeerS, r.PeerRatio = p, p/r.MeanS
				}
				results = append(results, r)
			}
		}
	}
	if err := writeAttention(w, opts.Format, env, opts.Threads, results); err != nil {
		return err
	}
	if opts.PlotDir != "" {
		if err := plotAttention(opts.PlotDir, opts.Force, env, opts.Threads, results); err != nil {
			return err
		}
	}
	return nil
}

func kernelsFor(names []string, s AttentionShape) []string {
	if len(names) > 0 {
		return names
	}
	ks := []string{"naive", "online", "flash"}
	if s.IsDecode() {
		ks = append(ks, "decode")
	}
	return ks
}

// newAttentionArgs allocates random unit-normal Q, K, V in the model layout.
func newAttentionArgs(s AttentionShape, threads int) *attention.Args {
	r := rand.New(rand.NewPCG(uint64(s.QLen), uint64(s.KVLen*1000+s.HeadDim)))
	e := s.Heads * s.HeadDim
	op := func(rows int, fill bool) attention.Operand {
		o := attention.Operand{BatchStride: rows * e, RowStride: e, HeadStride: s.HeadDim,
			Data: make([]float32, s.Batch*rows*e)}
		if fill {
			for i := range o.Data {
				o.Data[i] = float32(r.NormFloat64())
			}
		}
		return o
	}
	a := &attention.Args{Batch: s.Batch, Heads: s.Heads, QLen: s.QLen, KVLen: s.KVLen, HeadDim: s.HeadDim,
		Q: op(s.QLen, true), K: op(s.KVLen, true), V: op(s.KVLen, true), Out: op(s.QLen, false), Threads: threads}
	if s.Causal {
		a.Mask.Causal, a.Mask.CausalOffset = true, s.KVLen-s.QLen
	}
	return a
}

func measure(ctx context.Context, k attention.Kernel, s AttentionShape, threads int, o *AttentionOptions, env *Env) (AttentionResult, error) {
	r := AttentionResult{Kernel: k.Name(), Shape: s, Threads: threads, ScratchBytes: -1}
	a := newAttentionArgs(s, threads)
	args := []*attention.Args{a}
	if ss, ok := k.(attention.ScratchSizer); ok {
		r.ScratchBytes = ss.ScratchBytes(a)
		if r.ScratchBytes <= 16<<20 {
			// A kernel that takes a workspace (flash) gets one, as the model
			// would keep one per layer; the others ignore it.
			a.Workspace = make([]float32, r.ScratchBytes/4)
		}
	}
	switch {
	case r.ScratchBytes > o.MaxScratch:
		r.Skipped = fmt.Sprintf("scratch %d MiB > %d MiB", r.ScratchBytes>>20, o.MaxScratch>>20)
		return r, nil
	case (k.Name() == "online" || k.Name() == "plain" || k.Name() == "reference") && s.FLOP() > o.SlowFLOP:
		r.Skipped = fmt.Sprintf("%.1f GFLOP per call > slow-kernel limit", s.FLOP()/1e9)
		return r, nil
	}
	if s.Cold {
		args = coldArgs(a, coldCopies(s, o.ColdBytes))
		r.ColdCopies, r.ColdBytes = len(args), float64(len(args))*s.KVBytes()
	}
	mean, sd, cpuPerCall, calls, alloc, last, err := timeCalls(ctx, k, args, o.MinTime)
	if err != nil {
		return r, err
	}
	a = last // the copy whose result is in Out, for the reference check
	if cpuPerCall > 0 {
		r.CPUGFLOPS = s.FLOP() / cpuPerCall / 1e9
		if p := env.PeakCPUGFLOPS[1]; p > 0 {
			r.PctCPUPeak = 100 * r.CPUGFLOPS / p
		}
	}
	r.MeanS, r.SdS, r.Calls, r.AllocBytes = mean, sd, calls, alloc
	r.GFLOPS = s.FLOP() / mean / 1e9
	if p := env.PeakGFLOPS[threads]; p > 0 {
		r.PctPeak = 100 * r.GFLOPS / p
	}
	if s.IsDecode() {
		r.GBs = s.KVBytes() / mean / 1e9
		if bw := env.ReadGBs[threads]; bw > 0 {
			r.PctBW = 100 * r.GBs / bw
		}
		if cpuPerCall > 0 {
			r.CPUGBs = s.KVBytes() / cpuPerCall / 1e9
		}
		if s.Cold {
			r.ColdReadGBs = streamKV(args, threads)
			if r.ColdReadGBs > 0 {
				r.PctColdBW = 100 * r.GBs / r.ColdReadGBs
			}
		}
	}
	r.MaxAbsErr, r.NMSE, r.CheckedRows, err = checkRows(a, o.CheckRows)
	return r, err
}

// timeCalls runs one warm-up call, then samples of back-to-back calls
// (each sample ≥ minTime/10) until minTime has passed and at least 3
// samples were taken. Call i uses args[i mod len(args)] (one entry, or the
// copies of a -cold shape). It returns the per-call mean and standard
// deviation over samples, the process CPU seconds per call, the number of
// timed calls, bytes allocated per call and the args of the last call.
func timeCalls(ctx context.Context, k attention.Kernel, args []*attention.Args, minTime time.Duration) (mean, sd, cpu float64, calls int, alloc float64, last *attention.Args, err error) {
	next := 0
	forward := func() error {
		last = args[next]
		if next++; next == len(args) {
			next = 0
		}
		return k.Forward(last)
	}
	t0 := time.Now()
	if err = forward(); err != nil {
		return
	}
	first := time.Since(t0)
	per := 1
	if first > 0 {
		per = max(1, int(minTime/10/first))
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var samples []float64
	start, cpu0 := time.Now(), cpuSeconds()
	for len(samples) < 3 || time.Since(start) < minTime && len(samples) < 100 {
		if err = ctx.Err(); err != nil {
			return
		}
		ts := time.Now()
		for range per {
			if err = forward(); err != nil {
				return
			}
		}
		samples = append(samples, time.Since(ts).Seconds()/float64(per))
		calls += per
	}
	if c := cpuSeconds() - cpu0; cpu0 >= 0 && c > 0 {
		cpu = c / float64(calls)
	}
	runtime.ReadMemStats(&ms1)
	alloc = float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(calls)
	for _, v := range samples {
		mean += v
	}
	mean /= float64(len(samples))
	for _, v := range samples {
		sd += (v - mean) * (v - mean)
	}
	if len(samples) > 1 {
		sd = math.Sqrt(sd / float64(len(samples)-1))
	}
	return
}

// checkRows compares a.Out (the kernel's last result) with the float64
// reference on at most n query rows: the first n/2 and the last n/2.
func checkRows(a *attention.Args, n int) (maxAbs, nmse float64, rows int, err error) {
	ranges := [][2]int{{0, a.QLen}}
	if a.QLen > n {
		ranges = [][2]int{{0, n / 2}, {a.QLen - n/2, a.QLen}}
	}
	var num, den float64
	for _, rg := range ranges {
		i0, nr := rg[0], rg[1]-rg[0]
		ref := *a
		ref.Threads = 0
		ref.QLen = nr
		ref.Q.Data = a.Q.Data[i0*a.Q.RowStride:]
		ref.Out = a.Out
		ref.Out.Data = make([]float32, len(a.Out.Data)-i0*a.Out.RowStride)
		if ref.Mask.Causal {
			ref.Mask.CausalOffset += i0
		}
		if ref.Mask.Bias != nil {
			ref.Mask.Bias = a.Mask.Bias[i0*a.KVLen:]
		}
		if err = (attention.Reference{}).Forward(&ref); err != nil {
			return
		}
		for b := range a.Batch {
			for i := range nr {
				for h := range a.Heads {
					off := b*a.Out.BatchStride + i*a.Out.RowStride + h*a.Out.HeadStride
					got := a.Out.Data[i0*a.Out.RowStride+off:][:a.HeadDim]
					want := ref.Out.Data[off:][:a.HeadDim]
					for c := range got {
						d := float64(got[c]) - float64(want[c])
						maxAbs = max(maxAbs, math.Abs(d))
						num += d * d
						den += float64(want[c]) * float64(want[c])
					}
				}
			}
		}
		rows += nr
	}
	if den > 0 {
		nmse = num / den
	}
	return
}

func peerKey(shape string, threads int) string { return shape + "|" + strconv.Itoa(threads) }

// readPeer reads attention_peer.py's CSV: peer,shape,threads,mean_s,sd_s,gflops.
// A row whose mean_s is not a positive finite number of seconds is an
// error naming the file and line.
func readPeer(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("attention bench: peer file: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comment = '#'
	header, err := cr.Read()
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("attention bench: peer file %s: %w", path, err)
	}
	if !slices.Equal(header[:min(4, len(header))], []string{"peer", "shape", "threads", "mean_s"}) {
		return nil, fmt.Errorf("attention bench: peer file %s: want header peer,shape,threads,mean_s,…", path)
	}
	m := map[string]float64{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("attention bench: peer file %s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		t, err1 := strconv.Atoi(rec[2])
		s, err2 := strconv.ParseFloat(rec[3], 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("attention bench: peer file %s:%d: %w", path, line, err)
		}
		if !(s > 0) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("attention bench: peer file %s:%d: mean_s %q is not a positive finite number of seconds", path, line, rec[3])
		}
		m[peerKey(rec[1], t)] = s
	}
	return m, nil
}

func writeAttention(w io.Writer, format string, env *Env, threads []int, rs []AttentionResult) error {
	switch format {
	case "json":
		return writeJSON(w, struct {
			Env     *Env              `json:"env"`
			Results []AttentionResult `json:"results"`
		}{env, rs}, "  ")
	case "csv":
		if err := env.Write(w, "csv", threads); err != nil {
			return err
		}
		cw := csv.NewWriter(w)
		cw.Write([]string{"kernel", "shape", "batch", "heads", "q_len", "kv_len", "head_dim", "causal", "threads",
			"skipped", "calls", "mean_s", "sd_s", "gflops", "pct_peak", "cpu_gflops", "pct_cpu_peak", "gbs", "pct_bw", "cpu_gbs", "scratch_bytes",
			"alloc_bytes_per_call", "max_abs_err", "nmse", "checked_rows", "peer_s", "peer_ratio",
			"cold_copies", "cold_bytes", "cold_read_gbs", "pct_cold_bw"})
		g := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
		for _, r := range rs {
			s := r.Shape
			cw.Write([]string{r.Kernel, s.Name, strconv.Itoa(s.Batch), strconv.Itoa(s.Heads), strconv.Itoa(s.QLen),
				strconv.Itoa(s.KVLen), strconv.Itoa(s.HeadDim), strconv.FormatBool(s.Causal), strconv.Itoa(r.Threads),
				r.Skipped, strconv.Itoa(r.Calls), g(r.MeanS), g(r.SdS), g(r.GFLOPS), g(r.PctPeak), g(r.CPUGFLOPS), g(r.PctCPUPeak), g(r.GBs), g(r.PctBW), g(r.CPUGBs),
				strconv.Itoa(r.ScratchBytes), g(r.AllocBytes), g(r.MaxAbsErr), g(r.NMSE), strconv.Itoa(r.CheckedRows),
				g(r.PeerS), g(r.PeerRatio), strconv.Itoa(r.ColdCopies), g(r.ColdBytes), g(r.ColdReadGBs), g(r.PctColdBW)})
		}
		cw.Flush()
		return cw.Error()
	default:
		if err := env.Write(w, "md", threads); err != nil {
			return err
		}
		var b strings.Builder
		b.WriteString("| shape (B×H, Nq×Nk, d) | kernel | thr | time/call | GFLOP/s | % peak | GFLOP/CPU-s (% peak) | GB/s (% bw) | scratch | alloc/call | max\\|Δ\\| | NMSE | peer÷this |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range rs {
			s := r.Shape
			c := ""
			if s.Causal {
				c = " causal"
			}
			fmt.Fprintf(&b, "| %s (%d×%d, %d×%d, %d%s) | %s | %d | ", s.Name, s.Batch, s.Heads, s.QLen, s.KVLen, s.HeadDim, c, r.Kernel, r.Threads)
			if r.Skipped != "" {
				fmt.Fprintf(&b, "skipped: %s | | | | | %s | | | | |\n", r.Skipped, bytesStr(float64(r.ScratchBytes)))
				continue
			}
			bw, peer := "", ""
			if r.GBs > 0 {
				bw = fmt.Sprintf("%.1f (%.0f%%); %.1f/CPU-s", r.GBs, r.PctBW, r.CPUGBs)
			}
			if r.ColdCopies > 0 {
				bw += fmt.Sprintf("; cold: %d copies, %s; stream over them %.1f GB/s, this %.0f%% of it",
					r.ColdCopies, bytesStr(r.ColdBytes), r.ColdReadGBs, r.PctColdBW)
			}
			if r.PeerRatio > 0 {
				peer = fmt.Sprintf("%.2f", r.PeerRatio)
			}
			fmt.Fprintf(&b, "%s ± %s | %.2f | %.1f | %.1f (%.0f%%) | %s | %s | %s | %.1e | %.1e | %s |\n",
				durStr(r.MeanS), durStr(r.SdS), r.GFLOPS, r.PctPeak, r.CPUGFLOPS, r.PctCPUPeak, bw, bytesStr(float64(r.ScratchBytes)),
				bytesStr(r.AllocBytes), r.MaxAbsErr, r.NMSE, peer)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
}

func durStr(s float64) string {
	switch {
	case s >= 1:
		return fmt.Sprintf("%.3g s", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.3g ms", s*1e3)
	default:
		return fmt.Sprintf("%.3g µs", s*1e6)
	}
}

func bytesStr(n float64) string {
	switch {
	case n < 0:
		return "?"
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", n)
	}
}
