package attention

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkKernels times each fast kernel on a few model-like shapes and
// reports GFLOP/s (4·B·H·Nq·Nk·D per call, half for causal). Run with e.g.
//
//	go test ./attention/ -run XXX -bench Kernels -benchtime 0.3s
func BenchmarkKernels(bm *testing.B) {
	cases := []struct {
		name   string
		s      shape
		causal bool
	}{
		{"encoder-mini", shape{2, 16, 64, 64, 64}, false},
		{"self256-mini", shape{2, 16, 256, 256, 64}, true},
		{"cross256-mini", shape{2, 16, 256, 64, 64}, false},
		{"decode256-mega", shape{2, 32, 1, 256, 64}, false},
		{"N1024-d64", shape{1, 1, 1024, 1024, 64}, false},
		{"N4096-d64", shape{1, 1, 4096, 4096, 64}, false},
		{"N1024-d128", shape{1, 1, 1024, 1024, 128}, false},
	}
	for _, c := range cases {
		r := rand.New(rand.NewPCG(1, 2))
		mk := maskNone
		if c.causal {
			mk = maskCausal
		}
		for _, threads := range []int{1, 2} {
			a := makeArgs(r, c.s, layoutModel, mk, threads, 1)
			flops := 4.0 * float64(c.s.b*c.s.h*c.s.nq*c.s.nk*c.s.d)
			if c.causal {
				flops /= 2
			}
			for _, k := range []Kernel{Naive{}, Online{}, Flash{}, &Decode{}} {
				if k.Name() == "online" && c.s.nq*c.s.nk > 1<<20 {
					continue
				}
				bm.Run(fmt.Sprintf("%s/%s/t%d", c.name, k.Name(), threads), func(bm *testing.B) {
					for bm.Loop() {
						if err := k.Forward(a); err != nil {
							bm.Fatal(err)
						}
					}
					bm.ReportMetric(flops*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkDecodeCold times the decode kernel (and flash, for comparison)
// on mega's decode step at t = 256 (B 2, H 32, D 64: K+V = 8 MiB) while
// rotating through enough copies of K and V (4 × the last-level cache from
// /sys, 4 × 32 MiB if unreadable, at least 24 copies) that every call reads
// its cache from DRAM, as the model does when each step walks 24 layers.
// It reports GB/s of K+V bytes, and checks the last call's output against
// Reference. Run with e.g.
//
//	go test ./attention/ -run XXX -bench DecodeCold -benchtime 2s
func BenchmarkDecodeCold(bm *testing.B) {
	s := shape{2, 32, 1, 256, 64}
	kvBytes := 2 * 4 * s.b * s.h * s.nk * s.d
	n := max(24, int((4*benchLLC()+int64(kvBytes)-1)/int64(kvBytes)))
	base := makeArgs(rand.New(rand.NewPCG(3, 4)), s, layoutModel, maskNone, 1, 1)
	copies := make([]*Args, n)
	for c := range copies {
		cp := *base
		// distinct buffers with distinct contents (low mantissa bits
		// flipped), so no two pages are equal
		cp.K.Data, cp.V.Data = slices.Clone(base.K.Data), slices.Clone(base.V.Data)
		for i := range cp.K.Data {
			x := uint32(c)*0x9E3779B1 + uint32(i)*0x85EBCA77
			x ^= x >> 15
			cp.K.Data[i] = math.Float32frombits(math.Float32bits(cp.K.Data[i]) ^ (x & 0xff))
			cp.V.Data[i] = math.Float32frombits(math.Float32bits(cp.V.Data[i]) ^ (x >> 8 & 0xff))
		}
		copies[c] = &cp
	}
	for _, threads := range []int{1, 2} {
		for _, k := range []Kernel{&Decode{}, Flash{}} {
			bm.Run(fmt.Sprintf("mega-t256-%dcopies/%s/t%d", n, k.Name(), threads), func(bm *testing.B) {
				var last *Args
				i := 0
				for bm.Loop() {
					last = copies[i]
					last.Threads = threads
					if i++; i == n {
						i = 0
					}
					if err := k.Forward(last); err != nil {
						bm.Fatal(err)
					}
				}
				bm.ReportMetric(float64(kvBytes)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GB/s")
				bm.StopTimer()
				got := slices.Clone(last.Out.Data)
				if err := (Reference{}).Forward(last); err != nil {
					bm.Fatal(err)
				}
				if tol := tolerance(last, maxScore(last)); !closeTo(got, last.Out.Data, tol) {
					bm.Fatalf("%s: output differs from the reference by more than %g", k.Name(), tol)
				}
			})
		}
	}
}

// closeTo reports |a−b| ≤ tol elementwise; NaN matches only NaN (Out's
// padding outside the operand stays NaN in both).
func closeTo(a, b []float32, tol float64) bool {
	for i := range a {
		if math.IsNaN(float64(a[i])) && math.IsNaN(float64(b[i])) {
			continue
		}
		if !(math.Abs(float64(a[i])-float64(b[i])) <= tol) {
			return false
		}
	}
	return true
}

// benchLLC is cpu0's highest-level cache size from /sys, or 32 MiB.
func benchLLC() int64 {
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	best, bestLevel := int64(0), 0
	for _, d := range dirs {
		lv, err1 := os.ReadFile(filepath.Join(d, "level"))
		sz, err2 := os.ReadFile(filepath.Join(d, "size"))
		level, err3 := strconv.Atoi(strings.TrimSpace(string(lv)))
		str := strings.TrimSpace(string(sz))
		mul := int64(1)
		if k, ok := strings.CutSuffix(str, "K"); ok {
			str, mul = k, 1<<10
		} else if m, ok := strings.CutSuffix(str, "M"); ok {
			str, mul = m, 1<<20
		}
		v, err4 := strconv.ParseInt(str, 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || v <= 0 {
			continue
		}
		if level > bestLevel || level == bestLevel && v*mul > best {
			best, bestLevel = v*mul, level
		}
	}
	if best <= 0 {
		return 32 << 20
	}
	return best
}
