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

// DTypeOptions configures MeasureDType: decode-shaped y = x·Wᵀ (M ≤ 8)
// with the weight in each precision, weights out of cache.
type DTypeOptions struct {
	Shapes  [][3]int       // (M, N, K), each operand ≤ 1<<30 elements; default (2,16385,1024), (2,2730,1024), (2,1024,2730), (2,1024,1024)
	DTypes  []matmul.DType // default F32, F16, BF16, Q8
	Threads int            // goroutines (default 1)
	// Bytes is how much weight memory each dtype cycles through: as many
	// copies of the (N, K) weight as fit (at least 2), called one after
	// the other, so that each call finds its weight out of cache (default
	// 640 MB, about twice this VM's 300 MB L3).
	Bytes    int
	Rounds   int          // passes over every dtype, interleaved (odd rounds in reverse order); the best is kept (default 3)
	BWBytes  int          // read-bandwidth probe buffer (default 512 MB; < 0 skips)
	Progress func(string) // optional, one line per shape
}

// DTypeResult is one (shape, dtype) cell.
type DTypeResult struct {
	M, N, K     int
	DType       string
	Threads     int
	Copies      int     // weights cycled
	WeightBytes int     // bytes of one prepared weight (padding included)
	Seconds     float64 // per call: best round's pass time / Copies
	GBs         float64 // WeightBytes / Seconds / 1e9
	GWeights    float64 // N·K / Seconds / 1e9 (weights per second)
	BWPct       float64 // 100·GBs / the read-bandwidth probe
	VsF32       float64 // f32 seconds / these seconds (0 if f32 not run)
}

// DTypeReport is everything MeasureDType measured in one run.
type DTypeReport struct {
	CPU     string        `json:"cpu"`
	Tier    string        `json:"tier"`
	ReadBW  float64       `json:"read_gbs"`
	Results []DTypeResult `json:"results"`
}

// MeasureDType times the small-M Linear for each shape and dtype, all
// dtypes interleaved in each round so that they see the same machine.
// Shapes with a non-positive size or an operand over 1<<30 elements, and
// dtypes other than matmul's four, are refused before anything runs.
func MeasureDType(ctx context.Context, o DTypeOptions) (*DTypeReport, error) {
	if o.Shapes == nil {
		o.Shapes = [][3]int{{2, 16385, 1024}, {2, 2730, 1024}, {2, 1024, 2730}, {2, 1024, 1024}}
	}
	if o.DTypes == nil {
		o.DTypes = []matmul.DType{matmul.F32, matmul.F16, matmul.BF16, matmul.Q8}
	}
	for _, s := range o.Shapes {
		if err := checkMatmulShape(s); err != nil {
			return nil, fmt.Errorf("dtype benchmark: %w", err)
		}
	}
	for _, dt := range o.DTypes {
		if dt != matmul.F32 && dt != matmul.F16 && dt != matmul.BF16 && dt != matmul.Q8 {
			return nil, fmt.Errorf("dtype benchmark: unknown weight dtype %v (want F32, F16, BF16 or Q8)", dt)
		}
	}
	o.Threads = max(1, o.Threads)
	if o.Bytes <= 0 {
		o.Bytes = 640 << 20
	}
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.BWBytes == 0 {
		o.BWBytes = 512 << 20
	}
	eng, err := matmul.NewEngine(matmul.Best(), o.Threads)
	if err != nil {
		return nil, err
	}
	rep := &DTypeReport{CPU: cpuModel(), Tier: eng.Tier().String()}
	if o.BWBytes > 0 {
		rep.ReadBW = matmul.ReadBandwidth(o.BWBytes, o.Threads, 3)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, s := range o.Shapes {
		m, n, k := s[0], s[1], s[2]
		w := randFloats(rng, n*k)
		x := randFloats(rng, m*k)
		y := make([]float32, m*n)
		sets := make([][]*matmul.Linear, len(o.DTypes))
		for d, dt := range o.DTypes {
			one := eng.NewLinearDType(dt, w, n, k)
			copies := max(2, o.Bytes/one.WeightBytes())
			sets[d] = append(sets[d], one)
			for len(sets[d]) < copies {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				sets[d] = append(sets[d], eng.NewLinearDType(dt, w, n, k))
			}
		}
		best := make([]float64, len(o.DTypes))
		for r := 0; r < o.Rounds; r++ {
			for i := range sets {
				d := i
				if r%2 == 1 { // odd rounds run the dtypes in reverse order
					d = len(sets) - 1 - i
				}
				set := sets[d]
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				set[0].Forward(y, x, m) // warm the code path
				start := time.Now()
				for _, l := range set {
					l.Forward(y, x, m)
				}
				t := time.Since(start).Seconds() / float64(len(set))
				if r == 0 || t < best[d] {
					best[d] = t
				}
			}
		}
		f32 := slices.Index(o.DTypes, matmul.F32)
		for d, dt := range o.DTypes {
			res := DTypeResult{M: m, N: n, K: k, DType: dt.String(), Threads: o.Threads, Copies: len(sets[d]),
				WeightBytes: sets[d][0].WeightBytes(), Seconds: best[d]}
			res.GBs = float64(res.WeightBytes) / best[d] / 1e9
			res.GWeights = float64(n) * float64(k) / best[d] / 1e9
			if rep.ReadBW > 0 {
				res.BWPct = 100 * res.GBs / rep.ReadBW
			}
			if f32 >= 0 {
				res.VsF32 = best[f32] / best[d]
			}
			rep.Results = append(rep.Results, res)
		}
		sets = nil
		runtime.GC()
		if o.Progress != nil {
			o.Progress(fmt.Sprintf("%d×%d×%d done", m, n, k))
		}
	}
	return rep, nil
}

// WriteDType writes the report as a Markdown table ("md" or "") or JSON
// ("json"); a nil report or another format is an error, and nothing is
// written.
func WriteDType(w io.Writer, rep *DTypeReport, format string) error {
	if md, err := startReport(w, "dtype benchmark", rep, rep == nil, format, "  "); !md {
		return err
	}
	fmt.Fprintf(w, "CPU: %s; tier %s; read bandwidth probe %.1f GB/s\n\n", rep.CPU, rep.Tier, rep.ReadBW)
	fmt.Fprintln(w, "| M,N,K | dtype | thr | weight MB | copies | µs/call | weight GB/s | % read BW | G weights/s | speed vs f32 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rep.Results {
		fmt.Fprintf(w, "| %d,%d,%d | %s | %d | %.1f | %d | %.0f | %.1f | %.0f%% | %.2f | %.2f× |\n",
			r.M, r.N, r.K, r.DType, r.Threads, float64(r.WeightBytes)/1e6, r.Copies, r.Seconds*1e6, r.GBs, r.BWPct, r.GWeights, r.VsF32)
	}
	return nil
}
