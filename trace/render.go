package trace

import (
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// viridisStops are nine samples of matplotlib's viridis colour map.
var viridisStops = [...][3]float64{
	{68, 1, 84}, {72, 40, 120}, {62, 73, 137}, {49, 104, 142}, {38, 130, 142},
	{31, 158, 137}, {53, 183, 121}, {110, 206, 88}, {253, 231, 37},
}

// viridis maps v in [0, 1] (clamped; NaN → 0) to a colour.
func viridis(v float64) color.RGBA {
	if !(v > 0) {
		v = 0
	}
	v = min(v, 1)
	x := v * float64(len(viridisStops)-1)
	i := min(int(x), len(viridisStops)-2)
	f := x - float64(i)
	a, b := viridisStops[i], viridisStops[i+1]
	return color.RGBA{uint8(a[0] + f*(b[0]-a[0])), uint8(a[1] + f*(b[1]-a[1])), uint8(a[2] + f*(b[2]-a[2])), 255}
}

// matrixImage draws a rows×cols matrix (row-major vals) with one
// cell×cell block per entry, colour viridis((v/vmax)^gamma); vmax ≤ 0 means
// the matrix maximum.
func matrixImage(vals []float32, rows, cols, cell int, vmax, gamma float64) *image.RGBA {
	if vmax <= 0 {
		for _, v := range vals[:rows*cols] {
			vmax = max(vmax, float64(v))
		}
	}
	if vmax <= 0 {
		vmax = 1
	}
	img := image.NewRGBA(image.Rect(0, 0, cols*cell, rows*cell))
	for r := range rows {
		for c := range cols {
			col := viridis(math.Pow(float64(vals[r*cols+c])/vmax, gamma))
			for y := r * cell; y < (r+1)*cell; y++ {
				for x := c * cell; x < (c+1)*cell; x++ {
					p := img.Pix[img.PixOffset(x, y):]
					p[0], p[1], p[2], p[3] = col.R, col.G, col.B, 255
				}
			}
		}
	}
	return img
}

// poolMatrix averages an n×n matrix down to out×out (out divides n, or
// out ≥ n returns it unchanged).
func poolMatrix(vals []float32, n, out int) ([]float32, int) {
	if out >= n || n%out != 0 {
		return vals, n
	}
	f := n / out
	res := make([]float32, out*out)
	for r := range n {
		for c := range n {
			res[(r/f)*out+c/f] += vals[r*n+c]
		}
	}
	inv := 1 / float32(f*f)
	for i := range res {
		res[i] *= inv
	}
	return res, out
}

// resize scales img to size×size by nearest-neighbour sampling.
func resize(img image.Image, size int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			out.Set(x, y, img.At(b.Min.X+x*b.Dx()/size, b.Min.Y+y*b.Dy()/size))
		}
	}
	return out
}

// heatOverlay draws a side×side grid of values over base (already
// size×size): the image is dimmed to grey and each cell is mixed 65 % with
// viridis(v/vmax); vmax ≤ 0 means the grid maximum.
func heatOverlay(base *image.RGBA, grid []float32, side int, vmax float64) *image.RGBA {
	if vmax <= 0 {
		for _, v := range grid {
			vmax = max(vmax, float64(v))
		}
	}
	if vmax <= 0 {
		vmax = 1
	}
	size := base.Rect.Dx()
	out := image.NewRGBA(base.Rect)
	for y := range size {
		for x := range size {
			p := base.Pix[base.PixOffset(x, y):]
			grey := 0.6 * (0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2]))
			v := float64(grid[(y*side/size)*side+x*side/size]) / vmax
			c := viridis(v)
			q := out.Pix[out.PixOffset(x, y):]
			q[0] = uint8(0.35*grey + 0.65*float64(c.R))
			q[1] = uint8(0.35*grey + 0.65*float64(c.G))
			q[2] = uint8(0.35*grey + 0.65*float64(c.B))
			q[3] = 255
		}
	}
	return out
}

// drawMarker draws a small "+" (white, outlined in black) centred at
// (fx, fy), fractions of img's width and height.
func drawMarker(img *image.RGBA, fx, fy float64) {
	b := img.Rect
	cx := b.Min.X + int(fx*float64(b.Dx()))
	cy := b.Min.Y + int(fy*float64(b.Dy()))
	const arm = 6
	set := func(x, y int, c color.RGBA) {
		if image.Pt(x, y).In(b) {
			img.SetRGBA(x, y, c)
		}
	}
	for _, pass := range []struct {
		c     color.RGBA
		width int
	}{{color.RGBA{0, 0, 0, 255}, 1}, {color.RGBA{255, 255, 255, 255}, 0}} {
		for d := -arm - pass.width; d <= arm+pass.width; d++ {
			for w := -pass.width; w <= pass.width; w++ {
				set(cx+d, cy+w, pass.c)
				set(cx+w, cy+d, pass.c)
			}
		}
	}
}

// codeColor gives each codebook index a distinct, stable colour: hue by the
// golden ratio, value in three bands.
func codeColor(code int) color.RGBA {
	h := math.Mod(float64(code)*0.6180339887498949, 1)
	s := 0.55 + 0.35*float64(code%2)
	v := 0.65 + 0.15*float64(code%3)
	return hsv(h, s, v)
}

func hsv(h, s, v float64) color.RGBA {
	i := int(h * 6)
	f := h*6 - float64(i)
	p, q, t := v*(1-s), v*(1-f*s), v*(1-(1-f)*s)
	var r, g, b float64
	switch i % 6 {
	case 0:
		r, g, b = v, t, p
	case 1:
		r, g, b = q, v, p
	case 2:
		r, g, b = p, v, t
	case 3:
		r, g, b = p, q, v
	case 4:
		r, g, b = t, p, v
	default:
		r, g, b = v, p, q
	}
	return color.RGBA{uint8(255 * r), uint8(255 * g), uint8(255 * b), 255}
}

// tokenGridImage draws the side×side token map, one cell×cell block per
// token in its code colour.
func tokenGridImage(tokens []int, side, cell int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, side*cell, side*cell))
	for i, t := range tokens {
		r, c := i/side, i%side
		draw.Draw(img, image.Rect(c*cell, r*cell, (c+1)*cell, (r+1)*cell), &image.Uniform{codeColor(t)}, image.Point{}, draw.Src)
	}
	return img
}

// mosaic lays out rows×cols equally sized cells with labels: column labels
// above, row labels on the left, a gap between cells.
type mosaic struct {
	rows, cols int
	cw, ch     int // cell size
	rowLabels  []string
	colLabels  []string
}

const (
	gap       = 4
	labelH    = 16
	charWidth = 7 // basicfont.Face7x13
)

// draw renders the mosaic; cell(r, c) returns each cell image (nil leaves
// it blank).
func (m mosaic) draw(cell func(r, c int) image.Image) *image.RGBA {
	left := 0
	for _, l := range m.rowLabels {
		left = max(left, len(l)*charWidth+gap)
	}
	top := 0
	if len(m.colLabels) > 0 {
		top = labelH
	}
	w := left + m.cols*(m.cw+gap)
	h := top + m.rows*(m.ch+gap)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.White, image.Point{}, draw.Src)
	for c, l := range m.colLabels {
		drawLabel(img, left+c*(m.cw+gap), top-4, clipLabel(l, m.cw))
	}
	for r := range m.rows {
		if r < len(m.rowLabels) {
			drawLabel(img, 0, top+r*(m.ch+gap)+m.ch/2+5, m.rowLabels[r])
		}
		for c := range m.cols {
			im := cell(r, c)
			if im == nil {
				continue
			}
			x0, y0 := left+c*(m.cw+gap), top+r*(m.ch+gap)
			draw.Draw(img, image.Rect(x0, y0, x0+m.cw, y0+m.ch), im, im.Bounds().Min, draw.Src)
		}
	}
	return img
}

// clipLabel shortens l to fit width pixels.
func clipLabel(l string, width int) string {
	n := max(1, width/charWidth)
	if len(l) > n {
		return l[:n]
	}
	return l
}

// drawLabel writes s (ASCII) with its baseline at (x, y).
func drawLabel(img draw.Image, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.Black, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// writeGIF writes the frames, each enlarged by scale, as a looping GIF:
// 0.25 s per frame, 2 s on the last one. Colours are reduced to the Plan 9
// palette with Floyd–Steinberg dithering.
func writeGIF(w io.Writer, frames []Frame, scale int) error {
	g := &gif.GIF{LoopCount: 0}
	for i, f := range frames {
		b := f.Image.Bounds()
		src := image.Image(f.Image)
		if scale > 1 {
			src = resize(f.Image, b.Dx()*scale)
		}
		p := image.NewPaletted(src.Bounds(), palette.Plan9)
		draw.FloydSteinberg.Draw(p, p.Rect, src, src.Bounds().Min)
		delay := 25
		if i == len(frames)-1 {
			delay = 200
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, delay)
	}
	return gif.EncodeAll(w, g)
}
