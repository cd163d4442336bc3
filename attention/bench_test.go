package attention

import (
	"fmt"
	"math/rand/v2"
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
