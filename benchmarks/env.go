package benchmarks

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/tessella-ml/tessella/attention/tile"
	"github.com/tessella-ml/tessella/internal/matmul"
)

// Env describes the machine a benchmark ran on, with a peak FLOP rate and
// a read bandwidth measured at start.
type Env struct {
	CPUModel   string   `json:"cpu_model"`
	Features   []string `json:"simd_features"`
	GOMAXPROCS int      `json:"gomaxprocs"`
	NumCPU     int      `json:"num_cpu"`
	GoVersion  string   `json:"go_version"`
	BLAS       string   `json:"blas"`
	LoadAvg    string   `json:"load_avg"`
	// PeakKind says what loop PeakGFLOPS ran (assembly or pure Go).
	PeakKind string `json:"peak_kind"`
	// PeakGFLOPS[t] is the FMA loop's rate with t goroutines, best of 3.
	PeakGFLOPS map[int]float64 `json:"peak_gflops"`
	// PeakCPUGFLOPS[t] is the same loop's FLOPs per CPU-second of the
	// process (getrusage), i.e. the per-core rate while actually on a CPU;
	// on a shared machine it is the more stable figure.
	PeakCPUGFLOPS map[int]float64 `json:"peak_cpu_gflops"`
	// ReadGBs[t] is the read bandwidth streaming a 128 MiB buffer with t
	// goroutines, best of 3.
	ReadGBs map[int]float64 `json:"read_gbs"`
	// ReadCPUGBs[t] is the same stream's bytes per CPU-second.
	ReadCPUGBs map[int]float64 `json:"read_cpu_gbs"`
}

// MeasureEnv reads the machine description and measures peak FMA rate and
// read bandwidth for each thread count (about 0.3 s each).
func MeasureEnv(ctx context.Context, threads []int) (*Env, error) {
	e := &Env{
		CPUModel:      cpuModel(),
		Features:      simdFeatures(),
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
		NumCPU:        runtime.NumCPU(),
		GoVersion:     runtime.Version(),
		BLAS:          blasName(),
		LoadAvg:       loadAvg(),
		PeakKind:      tile.PeakKind(),
		PeakGFLOPS:    map[int]float64{},
		PeakCPUGFLOPS: map[int]float64{},
		ReadGBs:       map[int]float64{},
		ReadCPUGBs:    map[int]float64{},
	}
	buf := make([]float32, 32<<20) // 128 MiB, read-only stream
	for i := range buf {
		buf[i] = float32(i & 7)
	}
	for _, t := range threads {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for range 3 {
			wall, cpu := peakOnce(t)
			e.PeakGFLOPS[t] = max(e.PeakGFLOPS[t], wall)
			e.PeakCPUGFLOPS[t] = max(e.PeakCPUGFLOPS[t], cpu)
		}
		for range 3 {
			wall, cpu := readOnce(buf, t)
			e.ReadGBs[t] = max(e.ReadGBs[t], wall)
			e.ReadCPUGBs[t] = max(e.ReadCPUGBs[t], cpu)
		}
	}
	return e, nil
}

// peakOnce runs the FMA loop on t goroutines for about 0.1 s and returns
// GFLOP per wall second and per CPU-second.
func peakOnce(t int) (wall, cpu float64) {
	const iters = 200000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var flops float64
	start, cpu0 := time.Now(), cpuSeconds()
	for range t {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var f float64
			for time.Since(start) < 100*time.Millisecond {
				n, _ := tile.PeakFMA(iters)
				f += n
			}
			mu.Lock()
			flops += f
			mu.Unlock()
		}()
	}
	wg.Wait()
	wall = flops / time.Since(start).Seconds() / 1e9
	if c := cpuSeconds() - cpu0; cpu0 >= 0 && c > 0 {
		cpu = flops / c / 1e9
	}
	return wall, cpu
}

// readOnce streams buf twice, split over t goroutines; GB per wall second
// and per CPU-second.
func readOnce(buf []float32, t int) (wall, cpu float64) {
	var wg sync.WaitGroup
	part := len(buf) / t
	sums := make([]float32, t) // kept so the reads are not dead code
	start, cpu0 := time.Now(), cpuSeconds()
	for w := range t {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := buf[w*part : (w+1)*part]
			for range 2 {
				sums[w] += tile.ReadSum(s)
			}
		}()
	}
	wg.Wait()
	bytes := float64(2 * 4 * part * t)
	wall = bytes / time.Since(start).Seconds() / 1e9
	if c := cpuSeconds() - cpu0; cpu0 >= 0 && c > 0 {
		cpu = bytes / c / 1e9
	}
	return wall, cpu
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func simdFeatures() []string {
	x := cpu.X86
	var fs []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"sse4.2", x.HasSSE42}, {"avx", x.HasAVX}, {"avx2", x.HasAVX2}, {"fma", x.HasFMA},
		{"avx512f", x.HasAVX512F}, {"avx512dq", x.HasAVX512DQ}, {"avx512bw", x.HasAVX512BW},
		{"avx512vl", x.HasAVX512VL}, {"avx512vnni", x.HasAVX512VNNI}, {"avx512bf16", x.HasAVX512BF16},
		{"arm64.asimd", cpu.ARM64.HasASIMD},
	} {
		if f.ok {
			fs = append(fs, f.name)
		}
	}
	if tile.HasAsm() {
		fs = append(fs, "(attention kernels use the AVX-512 assembly)")
	} else {
		fs = append(fs, "(attention kernels use pure Go)")
	}
	return fs
}

func blasName() string {
	v := "unknown version"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "gonum.org/v1/gonum" {
				v = d.Version
			}
		}
	}
	return fmt.Sprintf("internal/matmul tier %v (gonum %s is its pure-Go fallback); used by the naive kernel only", matmul.Best(), v)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Write prints the environment block in format md, csv or json.
func (e *Env) Write(w io.Writer, format string, threads []int) error {
	switch format {
	case "json":
		return writeJSON(w, e, "  ")
	case "csv":
		var b strings.Builder
		fmt.Fprintf(&b, "# cpu,%q\n# simd,%q\n# gomaxprocs,%d\n# go,%s\n# blas,%q\n# load_avg,%s\n# peak_kind,%q\n",
			e.CPUModel, strings.Join(e.Features, " "), e.GOMAXPROCS, e.GoVersion, e.BLAS, e.LoadAvg, e.PeakKind)
		for _, t := range threads {
			fmt.Fprintf(&b, "# threads=%d,peak_gflops=%.1f,peak_cpu_gflops=%.1f,read_gbs=%.1f,read_cpu_gbs=%.1f\n",
				t, e.PeakGFLOPS[t], e.PeakCPUGFLOPS[t], e.ReadGBs[t], e.ReadCPUGBs[t])
		}
		_, err := io.WriteString(w, b.String())
		return err
	default:
		var b strings.Builder
		fmt.Fprintf(&b, "| environment | |\n|---|---|\n")
		fmt.Fprintf(&b, "| CPU | %s (%d logical CPUs) |\n", e.CPUModel, e.NumCPU)
		fmt.Fprintf(&b, "| SIMD | %s |\n", strings.Join(e.Features, " "))
		fmt.Fprintf(&b, "| GOMAXPROCS | %d |\n| Go | %s |\n| BLAS | %s |\n| load average at start | %s |\n",
			e.GOMAXPROCS, e.GoVersion, e.BLAS, e.LoadAvg)
		fmt.Fprintf(&b, "| peak loop | %s |\n", e.PeakKind)
		for _, t := range threads {
			fmt.Fprintf(&b, "| %d thread(s) | peak %.1f GFLOP/s wall (%.1f per CPU-second); read %.1f GB/s wall (%.1f per CPU-second) |\n",
				t, e.PeakGFLOPS[t], e.PeakCPUGFLOPS[t], e.ReadGBs[t], e.ReadCPUGBs[t])
		}
		b.WriteString("\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
}
