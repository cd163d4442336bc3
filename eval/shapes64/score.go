package shapes64

import (
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
	"sync"
)

// Parsed is one object the scorer found.
type Parsed struct {
	Kind, Size, Colour, Position string
	CX, CY                       float64 // alpha-weighted centroid, pixel units
}

// templateOffsets caches each (kind, size) template's centroid offset from
// its nominal centre (the triangle's and star's centroids are below it).
var templateOffsets = sync.OnceValue(func() map[[2]string][2]float64 {
	m := map[[2]string][2]float64{}
	for _, k := range Kinds {
		for _, s := range SizeNames {
			cov := Coverage(k, Sizes[s], 32, 32)
			var w, sx, sy float64
			for i := range 64 {
				for j := range 64 {
					c := cov[i*64+j]
					w += c
					sx += c * (float64(j) + 0.5)
					sy += c * (float64(i) + 0.5)
				}
			}
			m[[2]string{k, s}] = [2]float64{sx/w - 32, sy/w - 32}
		}
	}
	return m
})

func l1(a [3]int, b [3]float64) float64 {
	return math.Abs(float64(a[0])-b[0]) + math.Abs(float64(a[1])-b[1]) + math.Abs(float64(a[2])-b[2])
}

func nearest(names []string, pal map[string][3]int, c [3]float64) string {
	best, bd := "", math.Inf(1)
	for _, n := range names {
		if d := l1(pal[n], c); d < bd {
			best, bd = n, d
		}
	}
	return best
}

// median returns the median of xs like numpy (mean of the two middle values
// for an even count). It sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func medianColour(img *image.RGBA, pix []int) [3]float64 {
	var m [3]float64
	vals := make([]float64, len(pix))
	for c := range 3 {
		for k, p := range pix {
			vals[k] = float64(img.Pix[p*4+c])
		}
		m[c] = median(vals)
	}
	return m
}

// sceneSide is the side of the data set's images in pixels.
const sceneSide = 64

// scene64 returns img as a 64×64 image at the origin, the layout Parse
// indexes: img itself when it already is one, otherwise a copy read from
// img.Bounds().Min. An image of k·64 × k·64 pixels (k ≥ 1, a generator's
// scale-k output, which enlarges by nearest neighbour) is reduced by the
// rounded mean of each k×k block, which recovers a nearest-neighbour
// enlargement exactly. A nil image or one of any other size is an error.
func scene64(img *image.RGBA) (*image.RGBA, error) {
	if img == nil {
		return nil, errors.New("shapes64: nil image")
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w != h || w < sceneSide || w%sceneSide != 0 {
		return nil, fmt.Errorf("shapes64: the image is %d×%d; the scorer reads 64×64 images or k·64 × k·64 enlargements of them", w, h)
	}
	if b == image.Rect(0, 0, sceneSide, sceneSide) && img.Stride == 4*sceneSide {
		return img, nil
	}
	k := w / sceneSide
	out := image.NewRGBA(image.Rect(0, 0, sceneSide, sceneSide))
	for y := range sceneSide {
		for x := range sceneSide {
			var sum [4]int
			for dy := range k {
				row := img.Pix[img.PixOffset(b.Min.X+x*k, b.Min.Y+y*k+dy):][:4*k]
				for dx := range k {
					for c := range 4 {
						sum[c] += int(row[4*dx+c])
					}
				}
			}
			p := out.Pix[out.PixOffset(x, y):][:4]
			for c := range 4 {
				p[c] = uint8((sum[c] + k*k/2) / (k * k))
			}
		}
	}
	return out, nil
}

// Parse finds the background and the objects of a 64×64 image, read from
// img.Bounds().Min (a SubImage is read where it lies). An image of
// k·64 × k·64 pixels is read as the 64×64 scene it enlarges (each k×k
// block's rounded mean). For a nil image or one of any other size Parse
// returns an empty background name and no objects.
func Parse(img *image.RGBA) (string, []Parsed) {
	img, err := scene64(img)
	if err != nil {
		return "", nil
	}
	return parse64(img)
}

// parse64 is Parse of a 64×64 image at the origin with stride 4·64.
func parse64(img *image.RGBA) (string, []Parsed) {
	var border []int
	for k := range 64 {
		border = append(border, k, 63*64+k)
	}
	for k := range 64 {
		border = append(border, k*64, k*64+63)
	}
	background := nearest(BackgroundNames, Backgrounds, medianColour(img, border))
	bg := Backgrounds[background]
	var diff [64 * 64]int
	for p := range diff {
		for c := range 3 {
			diff[p] += abs(int(img.Pix[p*4+c]) - bg[c])
		}
	}
	var label [64 * 64]int // 0: background, k: blob k (1-based)
	var blobs [][]int
	for p := range diff {
		if diff[p] <= 90 || label[p] != 0 {
			continue
		}
		k := len(blobs) + 1
		stack, blob := []int{p}, []int{}
		label[p] = k
		for len(stack) > 0 {
			q := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			blob = append(blob, q)
			y, x := q/64, q%64
			for _, n := range [4][2]int{{y - 1, x}, {y + 1, x}, {y, x - 1}, {y, x + 1}} {
				if n[0] >= 0 && n[0] < 64 && n[1] >= 0 && n[1] < 64 {
					r := n[0]*64 + n[1]
					if diff[r] > 90 && label[r] == 0 {
						label[r] = k
						stack = append(stack, r)
					}
				}
			}
		}
		blobs = append(blobs, blob)
	}
	var objs []Parsed
	for k, blob := range blobs {
		if len(blob) >= 12 {
			objs = append(objs, describe(img, bg, diff[:], label[:], k+1, blob))
		}
	}
	return background, objs
}

func describe(img *image.RGBA, bg [3]int, diff, label []int, k int, blob []int) Parsed {
	// Blob pixels come in flood-fill order; the Python takes the median
	// over the same set, so order does not matter.
	var core []int
	for _, p := range blob {
		if diff[p] > 150 {
			core = append(core, p)
		}
	}
	if len(core) == 0 {
		core = blob
	}
	colour := nearest(ColourNames, Colours, medianColour(img, core))
	col := Colours[colour]
	var d [3]float64
	for c := range 3 {
		d[c] = float64(col[c] - bg[c])
	}
	dd := d[0]*d[0] + d[1]*d[1] + d[2]*d[2]
	// Soft alpha over the blob dilated by 2 px, minus other blobs.
	alpha := make([]float64, 64*64)
	var region [64 * 64]bool
	for _, p := range blob {
		y, x := p/64, p%64
		for yy := max(0, y-2); yy < min(64, y+3); yy++ {
			for xx := max(0, x-2); xx < min(64, x+3); xx++ {
				region[yy*64+xx] = true
			}
		}
	}
	var w, sx, sy float64
	for p := range region {
		if !region[p] || (label[p] != 0 && label[p] != k) {
			continue
		}
		var dot float64
		for c := range 3 {
			dot += float64(int(img.Pix[p*4+c])-bg[c]) * d[c]
		}
		a := math.Min(math.Max(dot/dd, 0), 1)
		alpha[p] = a
	}
	for i := range 64 {
		for j := range 64 {
			a := alpha[i*64+j]
			w += a
			sx += a * (float64(j) + 0.5)
			sy += a * (float64(i) + 0.5)
		}
	}
	cx, cy := sx/w, sy/w
	bestErr, bestKind, bestSize := math.Inf(1), "", ""
	cov := make([]float64, 64*64)
	offs := templateOffsets()
	for _, kind := range Kinds {
		for _, size := range SizeNames {
			o := offs[[2]string{kind, size}]
			coverageInto(cov, newShape(kind, float64(Sizes[size]), cx-o[0], cy-o[1]))
			var e float64
			for p := range cov {
				e += math.Abs(cov[p] - alpha[p])
			}
			if e < bestErr {
				bestErr, bestKind, bestSize = e, kind, size
			}
		}
	}
	col3 := min(2, int(cx*3/64))
	row3 := min(2, int(cy*3/64))
	return Parsed{Kind: bestKind, Size: bestSize, Colour: colour, Position: Positions[row3*3+col3], CX: cx, CY: cy}
}

// Verdict holds the scorer's per-attribute results; attributes the caption
// does not assert are absent.
type Verdict map[string]bool

// All reports whether every checked attribute is right.
func (v Verdict) All() bool {
	for _, ok := range v {
		if !ok {
			return false
		}
	}
	return true
}

// Score checks an image against a caption's assertions. The keys are
// background, count, kind, colour, size, position and relation. The image
// is read as Parse reads it. An image Parse cannot read (nil, or a size
// other than 64×64 and its k·64 × k·64 enlargements) fails: its verdict
// has the key "image" set to false besides the caption's attributes,
// scored as for an image with no background and no objects.
func Score(img *image.RGBA, a Assertion) Verdict {
	v := Verdict{}
	img, err := scene64(img)
	if err != nil {
		v["image"] = false
	}
	var background string
	var objs []Parsed
	if err == nil {
		background, objs = parse64(img)
	}
	if a.Background != "" {
		v["background"] = background == a.Background
	}
	v["count"] = len(objs) == a.Count
	every := func(f func(Parsed) bool) bool {
		if len(objs) == 0 {
			return false
		}
		for _, o := range objs {
			if !f(o) {
				return false
			}
		}
		return true
	}
	if a.Size != "" {
		v["size"] = every(func(o Parsed) bool { return o.Size == a.Size })
	}
	if a.Type != "relation" {
		v["kind"] = every(func(o Parsed) bool { return o.Kind == a.Kind })
		v["colour"] = every(func(o Parsed) bool { return o.Colour == a.Colour })
		if a.Position != "" {
			v["position"] = every(func(o Parsed) bool { return o.Position == a.Position })
		}
		return v
	}
	kinds, colours := map[string]bool{}, map[string]bool{}
	for _, o := range objs {
		kinds[o.Kind], colours[o.Colour] = true, true
	}
	v["kind"] = sameSet(kinds, a.Kind, a.Kind2)
	v["colour"] = sameSet(colours, a.Colour, a.Colour2)
	var as, bs []Parsed
	for _, o := range objs {
		if o.Kind == a.Kind && o.Colour == a.Colour {
			bs = append(bs, o)
		}
		if o.Kind == a.Kind2 && o.Colour == a.Colour2 {
			as = append(as, o)
		}
	}
	rel := false
	if len(as) == 1 && len(bs) == 1 {
		dx, dy := bs[0].CX-as[0].CX, bs[0].CY-as[0].CY
		switch a.Relation {
		case "to the left of":
			rel = dx < 0 && math.Abs(dx) > math.Abs(dy)
		case "to the right of":
			rel = dx > 0 && math.Abs(dx) > math.Abs(dy)
		case "above":
			rel = dy < 0 && math.Abs(dy) > math.Abs(dx)
		case "below":
			rel = dy > 0 && math.Abs(dy) > math.Abs(dx)
		}
	}
	v["relation"] = rel
	return v
}

func sameSet(got map[string]bool, want ...string) bool {
	w := map[string]bool{}
	for _, x := range want {
		w[x] = true
	}
	if len(got) != len(w) {
		return false
	}
	for x := range w {
		if !got[x] {
			return false
		}
	}
	return true
}
