package model

// Quoted by docs/guide.md §11. Kept apart from example_guide_test.go because
// it uses the attention package's Online and Flash kernels: drop this file if
// they are renamed.

import (
	"fmt"
	"math"

	"github.com/tessella-ml/tessella/attention"
)

// The attention kernels agree: Plain (scores, softmax, weighted sum),
// Online (one pass with a running max and sum) and Flash (tiles of keys)
// compute the same output; see the guide's derivation.
func Example_attentionKernels() {
	const N, D = 200, 64
	fill := func(seed int) []float32 {
		v := make([]float32, N*D)
		for i := range v {
			v[i] = float32(math.Sin(float64(seed*7919+i) * 0.37))
		}
		return v
	}
	q, k, v := fill(1), fill(2), fill(3)
	op := func(d []float32) attention.Operand { return attention.Operand{Data: d, RowStride: D} }
	outs := map[string][]float32{}
	for _, kern := range []attention.Kernel{attention.Plain{}, attention.Online{}, attention.Flash{}} {
		out := make([]float32, N*D)
		a := attention.Args{Batch: 1, Heads: 1, QLen: N, KVLen: N, HeadDim: D,
			Q: op(q), K: op(k), V: op(v), Out: op(out), Mask: attention.Mask{Causal: true}}
		if err := kern.Forward(&a); err != nil {
			fmt.Println(err)
		}
		outs[kern.Name()] = out
	}
	maxDiff := func(a, b []float32) float64 {
		var m float64
		for i := range a {
			m = max(m, math.Abs(float64(a[i]-b[i])))
		}
		return m
	}
	fmt.Println("online ≈ plain:", maxDiff(outs["online"], outs["plain"]) < 1e-5)
	fmt.Println("flash  ≈ plain:", maxDiff(outs["flash"], outs["plain"]) < 1e-5)
	// Output:
	// online ≈ plain: true
	// flash  ≈ plain: true
}
