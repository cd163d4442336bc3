package shapes64

import (
	"image"
	"image/color"
	"math"
)

// Kinds, colours, backgrounds, sizes and positions, in the design's order.
var (
	Kinds       = []string{"circle", "square", "triangle", "diamond", "star", "cross", "hexagon", "ring"}
	ColourNames = []string{"red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink"}
	Colours     = map[string][3]int{
		"red": {220, 40, 40}, "orange": {245, 140, 30}, "yellow": {240, 210, 40},
		"green": {40, 170, 60}, "cyan": {40, 200, 210}, "blue": {40, 80, 220},
		"purple": {140, 60, 190}, "pink": {245, 130, 180},
	}
	BackgroundNames = []string{"white", "black", "gray"}
	Backgrounds     = map[string][3]int{"white": {250, 250, 250}, "black": {15, 15, 15}, "gray": {128, 128, 128}}
	SizeNames       = []string{"small", "medium", "large"}
	Sizes           = map[string]int{"small": 10, "medium": 16, "large": 24}
	Positions       = []string{"top left", "top", "top right", "left", "center", "right",
		"bottom left", "bottom", "bottom right"}
	Relations = []string{"to the left of", "to the right of", "above", "below"}
)

// cell is the centre of each 3×3 cell along one axis.
var cell = [3]int{12, 32, 52}

// HeldOut reports whether (kind, colour) is one of the 8 pairs
// kind_i × colour_(3i+1 mod 8) that never appear in training scenes.
func HeldOut(kind, colour string) bool {
	for i, k := range Kinds {
		if k == kind {
			return ColourNames[(3*i+1)%8] == colour
		}
	}
	return false
}

// Object is one shape: kind, colour name, side in pixels, centre.
type Object struct {
	Kind, Colour string
	Size         int
	CX, CY       float64
}

// Size of the supersampling grid per pixel side.
const ss = 4

type point struct{ x, y float64 }

func polygon(kind string, s, cx, cy float64) []point {
	h := s / 2
	switch kind {
	case "triangle":
		return []point{{cx, cy - h}, {cx + h, cy + 0.85*h}, {cx - h, cy + 0.85*h}}
	case "diamond":
		return []point{{cx, cy - h}, {cx + h, cy}, {cx, cy + h}, {cx - h, cy}}
	case "hexagon":
		p := make([]point, 6)
		for k := range p {
			a := float64(60*k) * (math.Pi / 180)
			p[k] = point{cx + h*math.Cos(a), cy + h*math.Sin(a)}
		}
		return p
	case "star":
		p := make([]point, 10)
		for k := range p {
			r := h
			if k%2 == 1 {
				r = 0.45 * h
			}
			a := float64(-90+36*k) * (math.Pi / 180)
			p[k] = point{cx + r*math.Cos(a), cy + 0.1*h + r*math.Sin(a)}
		}
		return p
	}
	return nil
}

// insidePolygon is the even-odd rule, the same arithmetic as the Python.
func insidePolygon(p []point, x, y float64) bool {
	in := false
	for k := range p {
		x0, y0 := p[k].x, p[k].y
		x1, y1 := p[(k+1)%len(p)].x, p[(k+1)%len(p)].y
		if y0 == y1 {
			continue
		}
		if (y0 > y) != (y1 > y) && x < x0+(y-y0)*(x1-x0)/(y1-y0) {
			in = !in
		}
	}
	return in
}

// shape tests sample points against one object.
type shape struct {
	kind      string
	s, cx, cy float64
	poly      []point
}

func newShape(kind string, s, cx, cy float64) shape {
	return shape{kind: kind, s: s, cx: cx, cy: cy, poly: polygon(kind, s, cx, cy)}
}

func (sh shape) contains(x, y float64) bool {
	h := sh.s / 2
	dx, dy := x-sh.cx, y-sh.cy
	switch sh.kind {
	case "circle":
		return dx*dx+dy*dy <= h*h
	case "ring":
		r2 := dx*dx + dy*dy
		hole := h - 0.27*sh.s
		return r2 <= h*h && r2 > hole*hole
	case "square":
		return math.Abs(dx) <= 0.9*h && math.Abs(dy) <= 0.9*h
	case "cross":
		t := 0.18 * sh.s
		return (math.Abs(dx) <= h && math.Abs(dy) <= t) || (math.Abs(dy) <= h && math.Abs(dx) <= t)
	}
	return insidePolygon(sh.poly, x, y)
}

// bounds returns the pixel rows/columns [y0, y1) × [x0, x1) the shape can touch.
func (sh shape) bounds() (x0, y0, x1, y1 int) {
	r := sh.s/2 + 1
	clamp := func(v float64) int { return min(64, max(0, int(math.Floor(v)))) }
	return clamp(sh.cx - r), clamp(sh.cy - r), clamp(sh.cx + r + 1), clamp(sh.cy + r + 1)
}

func sample(i int) float64 { return (float64(i) + 0.5) / ss }

// Render draws the objects, in order, over the background.
func Render(background string, objects []Object) *image.RGBA {
	var sum [64 * 64 * 3]int // per pixel, the sum of its 16 samples
	bg := Backgrounds[background]
	shapes := make([]shape, len(objects))
	for k, o := range objects {
		shapes[k] = newShape(o.Kind, float64(o.Size), o.CX, o.CY)
	}
	for i := range 64 * ss {
		for j := range 64 * ss {
			c := bg
			x, y := sample(j), sample(i)
			for k := len(shapes) - 1; k >= 0; k-- {
				if shapes[k].contains(x, y) {
					c = Colours[objects[k].Colour]
					break
				}
			}
			p := ((i/ss)*64 + j/ss) * 3
			sum[p] += c[0]
			sum[p+1] += c[1]
			sum[p+2] += c[2]
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for p := range 64 * 64 {
		for c := range 3 {
			img.Pix[p*4+c] = uint8(math.Floor(float64(sum[p*3+c])/(ss*ss) + 0.5))
		}
		img.Pix[p*4+3] = 255
	}
	return img
}

// Coverage returns the anti-aliased coverage in [0, 1] of one shape, 64×64 row-major.
func Coverage(kind string, size int, cx, cy float64) []float64 {
	cov := make([]float64, 64*64)
	coverageInto(cov, newShape(kind, float64(size), cx, cy))
	return cov
}

// coverageInto writes a shape's coverage into cov (zero outside its bounds).
func coverageInto(cov []float64, sh shape) {
	clear(cov)
	x0, y0, x1, y1 := sh.bounds()
	for i := y0 * ss; i < y1*ss; i++ {
		for j := x0 * ss; j < x1*ss; j++ {
			if sh.contains(sample(j), sample(i)) {
				cov[(i/ss)*64+j/ss] += 1.0 / (ss * ss)
			}
		}
	}
}

// RGB returns a palette colour as a color.RGBA.
func RGB(c [3]int) color.RGBA { return color.RGBA{uint8(c[0]), uint8(c[1]), uint8(c[2]), 255} }
