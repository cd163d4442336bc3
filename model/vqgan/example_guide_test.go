package vqgan

// Examples quoted by docs/guide.md.

import "fmt"

func exampleRun() *run { return &run{threads: 1, scratchElems: 1 << 16, ws: &workspace{}} }

// GroupNorm (run.groupNorm) of a 4-channel 2×2 map with 2 groups: channels
// 0–1 share one mean and variance (of the values 1 … 8), channels 2–3
// another; then swish.
func Example_groupNorm() {
	x := []float32{
		1, 2, 3, 4, // channel 0 (2×2, raster order)
		5, 6, 7, 8, // channel 1
		0, 0, 0, 4, // channel 2
		2, 2, 2, 2, // channel 3
	}
	g := groupNorm{c: 4, groups: 2, eps: 1e-5, w: []float32{1, 1, 1, 1}, b: []float32{0, 0, 0, 0}}
	y := make([]float32, len(x))
	r := exampleRun()
	r.groupNorm(y, x, &g, 4, false)
	for c := range 4 {
		fmt.Printf("GroupNorm channel %d: %.4f\n", c, y[4*c:4*c+4])
	}
	r.groupNorm(y, x, &g, 4, true)
	fmt.Printf("swish(GroupNorm) channel 0: %.4f\n", y[:4])
	// Output:
	// GroupNorm channel 0: [-1.5275 -1.0911 -0.6547 -0.2182]
	// GroupNorm channel 1: [0.2182 0.6547 1.0911 1.5275]
	// GroupNorm channel 2: [-1.1339 -1.1339 -1.1339 1.8898]
	// GroupNorm channel 3: [0.3780 0.3780 0.3780 0.3780]
	// swish(GroupNorm) channel 0: [-0.2724 -0.2743 -0.2239 -0.0973]
}

// Nearest ×2 upsampling (run.upsample2) then a 3×3 convolution with zero
// padding (run.conv3x3): a kernel of ones counts each pixel's in-image
// neighbourhood, so the border shows the padding.
func Example_upsampleConv() {
	r := exampleRun()
	up := make([]float32, 16)
	r.upsample2(up, []float32{1, 2, 3, 4}, 1, 2, 2)
	for y := range 4 {
		fmt.Println("upsampled", up[4*y:4*y+4])
	}
	ones := conv{in: 1, out: 1, k: 3, w: []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}, b: []float32{0}}
	x := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}
	out := make([]float32, 9)
	r.conv3x3(out, x, &ones, 3, 3)
	for y := range 3 {
		fmt.Println("conv3x3  ", out[3*y:3*y+3])
	}
	// Output:
	// upsampled [1 1 2 2]
	// upsampled [1 1 2 2]
	// upsampled [3 3 4 4]
	// upsampled [3 3 4 4]
	// conv3x3   [4 6 4]
	// conv3x3   [6 9 6]
	// conv3x3   [4 6 4]
}
