package trace_test

import (
	"fmt"
	"image"
	"image/color"
	"strings"

	"github.com/tessella-ml/tessella/trace"
)

// A plain preview of a horizontal grey ramp (0 … 252), 16 characters wide:
// one character per 4×8-pixel box, picked from " .:-=+*#%@" by luminance.
func ExampleASCII() {
	img := image.NewGray(image.Rect(0, 0, 64, 16))
	for y := range 16 {
		for x := range 64 {
			img.SetGray(x, y, color.Gray{uint8(x * 4)})
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(trace.ASCII(img, 16, false), "\n"), "\n") {
		fmt.Printf("|%s|\n", line)
	}
	// Output:
	// |  .::--=++*##%@@|
	// |  .::--=++*##%@@|
}
