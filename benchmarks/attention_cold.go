package benchmarks

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tessella-ml/tessella/attention"
	"github.com/tessella-ml/tessella/attention/tile"
)

// defaultLLC is the last-level cache size assumed when /sys does not say.
const defaultLLC = 32 << 20

// llcBytes is the size of cpu0's highest-level cache as listed under
// /sys/devices/system/cpu/cpu0/cache/index*/{level,size}, or 32 MiB if
// that cannot be read.
func llcBytes() int64 {
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	best, bestLevel := int64(0), 0
	for _, d := range dirs {
		lv, err1 := os.ReadFile(filepath.Join(d, "level"))
		sz, err2 := os.ReadFile(filepath.Join(d, "size"))
		if err1 != nil || err2 != nil {
			continue
		}
		level, err := strconv.Atoi(strings.TrimSpace(string(lv)))
		n, ok := parseCacheSize(string(sz))
		if err != nil || !ok {
			continue
		}
		if level > bestLevel || level == bestLevel && n > best {
			best, bestLevel = n, level
		}
	}
	if best <= 0 {
		return defaultLLC
	}
	return best
}

// parseCacheSize reads sysfs cache sizes such as "48K", "2048K", "300M".
func parseCacheSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	mul := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mul, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mul, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mul, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n * mul, true
}

// coldCopies is how many K/V pairs of shape s make up total bytes (≥ 2).
func coldCopies(s AttentionShape, total int64) int {
	kv := int64(s.KVBytes())
	if kv <= 0 {
		return 2
	}
	return int(max(2, (total+kv-1)/kv))
}

// coldArgs returns n argument sets: a itself, then n−1 that share a's Q,
// Out, mask and workspace but own new K and V buffers. Copy c's values are
// a's with the low 8 mantissa bits of each element flipped by a hash of
// (c, index) (a relative change < 2⁻¹⁵), so no two copies have equal pages
// that a hypervisor could merge, and each is still a valid input whose
// result the reference check can verify.
func coldArgs(a *attention.Args, n int) []*attention.Args {
	out := make([]*attention.Args, n)
	out[0] = a
	perturb := func(src []float32, c, salt uint32) []float32 {
		dst := make([]float32, len(src))
		for i, v := range src {
			x := c*0x9E3779B1 + uint32(i)*0x85EBCA77 + salt
			x ^= x >> 15
			x *= 0x2C1B3C6D
			x ^= x >> 12
			dst[i] = math.Float32frombits(math.Float32bits(v) ^ (x & 0xff))
		}
		return dst
	}
	for c := 1; c < n; c++ {
		cp := *a
		cp.K.Data = perturb(a.K.Data, uint32(c), 1)
		cp.V.Data = perturb(a.V.Data, uint32(c), 2)
		out[c] = &cp
	}
	return out
}

// streamKV reads every K and V buffer of args once, in rotation order,
// split over t goroutines, with the environment probe's AVX-512 loop
// (tile.ReadSum); it returns the best GB/s of two passes.
func streamKV(args []*attention.Args, t int) float64 {
	var bufs [][]float32
	var bytes float64
	for _, a := range args {
		bufs = append(bufs, a.K.Data, a.V.Data)
		bytes += 4 * float64(len(a.K.Data)+len(a.V.Data))
	}
	t = max(1, min(t, len(bufs)))
	best := 0.0
	sums := make([]float32, t) // kept so the reads are not dead code
	for range 2 {
		var wg sync.WaitGroup
		start := time.Now()
		for w := range t {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(bufs); i += t {
					sums[w] += tile.ReadSum(bufs[i])
				}
			}()
		}
		wg.Wait()
		if el := time.Since(start).Seconds(); el > 0 {
			best = max(best, bytes/el/1e9)
		}
	}
	return best
}
