package trace

import (
	"fmt"
	"image"
	"strings"
)

// asciiRamp runs from dark to light.
const asciiRamp = " .:-=+*#%@"

// DefaultASCIIColumns is the preview width ASCII uses for cols ≤ 0.
const DefaultASCIIColumns = 32

// MaxASCIIColumns bounds a preview: ASCII clamps cols to it, and the number
// of lines too, so that its work and output stay bounded (at most
// MaxASCIIColumns² characters) whatever cols and the image's shape.
const MaxASCIIColumns = 1000

// ASCII renders img as a small terminal preview cols characters wide
// (cols ≤ 0: DefaultASCIIColumns; cols > MaxASCIIColumns: MaxASCIIColumns).
// Each character covers a box of pixels whose colours are averaged.
//
// With color, every character is the upper half block "▀" with ANSI 24-bit
// colours: foreground the upper pixel box, background the lower one, so a
// character shows two pixel rows (rows = max(1, ⌈⌊cols·h/w⌋/2⌉) lines, each ending in
// the reset "\x1b[0m"). Without color, each character is chosen from the
// ramp " .:-=+*#%@" by luminance (Rec. 601), with rows = max(1, ⌈⌊cols·h/w⌋/2⌉)
// since terminal cells are about twice as tall as wide. rows is at most
// MaxASCIIColumns: a taller image is squeezed vertically. Every line ends in
// "\n". An empty image gives "".
func ASCII(img image.Image, cols int, color bool) string {
	if img == nil {
		return ""
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return ""
	}
	if cols <= 0 {
		cols = DefaultASCIIColumns
	}
	cols = min(cols, MaxASCIIColumns)
	// In int64 and clamped before the conversion: cols·h can overflow a
	// 32-bit int for a tall image.
	lines := int(max(1, min((int64(cols)*int64(h)/int64(w)+1)/2, MaxASCIIColumns)))
	px := 2 * lines // pixel rows sampled: two per line
	var sb strings.Builder
	for ln := range lines {
		for c := range cols {
			if color {
				r0, g0, b0 := boxMean(img, c, 2*ln, cols, px)
				r1, g1, b1 := boxMean(img, c, 2*ln+1, cols, px)
				fmt.Fprintf(&sb, "\x1b[38;2;%d;%d;%dm\x1b[48;2;%d;%d;%dm▀", r0, g0, b0, r1, g1, b1)
				continue
			}
			// One character covers both pixel rows.
			r0, g0, b0 := boxMean(img, c, 2*ln, cols, px)
			r1, g1, b1 := boxMean(img, c, 2*ln+1, cols, px)
			y := (0.299*float64(r0+r1) + 0.587*float64(g0+g1) + 0.114*float64(b0+b1)) / 2 / 255
			k := min(len(asciiRamp)-1, int(y*float64(len(asciiRamp))))
			sb.WriteByte(asciiRamp[k])
		}
		if color {
			sb.WriteString("\x1b[0m")
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// boxMean averages the 8-bit RGB of the pixels of cell (cx, cy) when img is
// divided into cols × rows cells (at least one pixel per cell).
func boxMean(img image.Image, cx, cy, cols, rows int) (r, g, b int) {
	bd := img.Bounds()
	w, h := bd.Dx(), bd.Dy()
	x0, x1 := cx*w/cols, (cx+1)*w/cols
	y0, y1 := cy*h/rows, (cy+1)*h/rows
	x1, y1 = max(x1, x0+1), max(y1, y0+1)
	var sr, sg, sbl, n uint64
	for y := y0; y < min(y1, h); y++ {
		for x := x0; x < min(x1, w); x++ {
			cr, cg, cb, _ := img.At(bd.Min.X+x, bd.Min.Y+y).RGBA()
			sr += uint64(cr >> 8)
			sg += uint64(cg >> 8)
			sbl += uint64(cb >> 8)
			n++
		}
	}
	if n == 0 {
		return 0, 0, 0
	}
	return int(sr / n), int(sg / n), int(sbl / n)
}
