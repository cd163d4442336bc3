package shapes64

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Scene is one image's content and what its full caption says.
type Scene struct {
	Type       string // "single", "count" or "relation"
	Background string
	Size       string // size name shared by all objects
	Position   string // single: the named position
	Relation   string // relation: B Relation A, Objects = [A, B]
	Objects    []Object
}

// Assertion is what a caption claims; the scorer checks exactly these.
type Assertion struct {
	Type           string
	Count          int
	Kind, Colour   string // the (first) object
	Kind2, Colour2 string // relation: the reference object A
	Size, Position string // "" when the caption does not say
	Background     string // "" when the caption does not say
	Relation       string
}

func pairs(split string) [][2]string {
	var p [][2]string
	for _, k := range Kinds {
		for _, c := range ColourNames {
			if split == "train" && HeldOut(k, c) {
				continue
			}
			p = append(p, [2]string{k, c})
		}
	}
	return p
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// randInt returns an integer in [lo, hi], like Python's randint.
func randInt(r *rand.Rand, lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// SampleScene draws a scene of the split: "train" never uses a held-out
// (kind, colour) pair, "heldout" always uses at least one.
func SampleScene(r *rand.Rand, split string) (Scene, error) {
	if split != "train" && split != "heldout" {
		return Scene{}, fmt.Errorf("shapes64: unknown split %q (want train or heldout)", split)
	}
	for {
		sc := sampleScene(r, split)
		held := false
		for _, o := range sc.Objects {
			held = held || HeldOut(o.Kind, o.Colour)
		}
		if (split == "train") != held {
			return sc, nil
		}
	}
}

func place(r *rand.Rand, pos string, s int) (float64, float64) {
	idx := 0
	for i, p := range Positions {
		if p == pos {
			idx = i
		}
	}
	row, col := idx/3, idx%3
	h := float64(s) / 2
	cx := math.Min(math.Max(float64(cell[col]+randInt(r, -2, 2)), h), 64-h)
	cy := math.Min(math.Max(float64(cell[row]+randInt(r, -2, 2)), h), 64-h)
	return cx, cy
}

func sampleScene(r *rand.Rand, split string) Scene {
	ps := pairs(split)
	bg := pick(r, BackgroundNames)
	switch u := r.Float64(); {
	case u < 0.5:
		p := pick(r, ps)
		size := pick(r, SizeNames)
		pos := pick(r, Positions)
		cx, cy := place(r, pos, Sizes[size])
		return Scene{Type: "single", Background: bg, Size: size, Position: pos,
			Objects: []Object{{p[0], p[1], Sizes[size], cx, cy}}}
	case u < 0.75:
		p := pick(r, ps)
		size := pick(r, SizeNames[:2])
		s := Sizes[size]
		count := randInt(r, 2, 4)
		lo, hi := (s+1)/2, 64-(s+1)/2
		for {
			var pts [][2]int
			for range 200 {
				x, y := randInt(r, lo, hi), randInt(r, lo, hi)
				ok := true
				for _, q := range pts {
					if abs(x-q[0]) < s+3 && abs(y-q[1]) < s+3 {
						ok = false
					}
				}
				if ok {
					if pts = append(pts, [2]int{x, y}); len(pts) == count {
						break
					}
				}
			}
			if len(pts) == count {
				sc := Scene{Type: "count", Background: bg, Size: size}
				for _, q := range pts {
					sc.Objects = append(sc.Objects, Object{p[0], p[1], s, float64(q[0]), float64(q[1])})
				}
				return sc
			}
		}
	default:
		size := pick(r, SizeNames[:2])
		s := Sizes[size]
		a := pick(r, ps)
		b := a
		for b == a {
			b = pick(r, ps)
		}
		rel := pick(r, Relations)
		h := float64(s) / 2
		lo, hi := (s+1)/2, 64-(s+1)/2
		for {
			ax, ay := randInt(r, lo, hi), randInt(r, lo, hi)
			along := randInt(r, s+7, 64)
			lim := int(math.Ceil(0.6*float64(along))) - 1 // |across| < 0.6·along
			across := randInt(r, -lim, lim)
			var dx, dy int
			switch rel {
			case "to the left of":
				dx, dy = -along, across
			case "to the right of":
				dx, dy = along, across
			case "above":
				dx, dy = across, -along
			default:
				dx, dy = across, along
			}
			bx, by := float64(ax+dx), float64(ay+dy)
			if bx >= h && bx <= 64-h && by >= h && by <= 64-h {
				return Scene{Type: "relation", Background: bg, Size: size, Relation: rel,
					Objects: []Object{{a[0], a[1], s, float64(ax), float64(ay)}, {b[0], b[1], s, bx, by}}}
			}
		}
	}
}

func abs(x int) int { return max(x, -x) }

// Plural is a kind's plural.
func Plural(kind string) string {
	if kind == "cross" {
		return "crosses"
	}
	return kind + "s"
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func nounPhrase(size, colour, kind string) string {
	w := []string{colour, kind}
	if size != "" {
		w = append([]string{size}, w...)
	}
	return article(w[0]) + " " + strings.Join(w, " ")
}

// PositionPhrase is how captions name a position: "in the center",
// "on the left", "at the top right", ….
func PositionPhrase(pos string) string {
	switch pos {
	case "center":
		return "in the center"
	case "left", "right":
		return "on the " + pos
	}
	return "at the " + pos
}

var countWords = map[int]string{2: "two", 3: "three", 4: "four"}

// Caption returns the scene's full caption (every attribute, background as
// " on a X background") and what it asserts. A scene too short for its type
// (no objects, or a relation scene with fewer than two), such as the zero
// Scene, has no caption: Caption returns "" and an Assertion of its type,
// size, background and object count, with no kinds or colours.
func Caption(sc Scene) (string, Assertion) {
	a := Assertion{Type: sc.Type, Count: len(sc.Objects), Size: sc.Size, Background: sc.Background}
	if len(sc.Objects) == 0 || (sc.Type != "single" && sc.Type != "count" && len(sc.Objects) < 2) {
		return "", a
	}
	var text string
	o := sc.Objects[0]
	switch sc.Type {
	case "single":
		text = nounPhrase(sc.Size, o.Colour, o.Kind) + " " + PositionPhrase(sc.Position)
		a.Kind, a.Colour, a.Position = o.Kind, o.Colour, sc.Position
	case "count":
		text = strings.Join([]string{countWords[len(sc.Objects)], sc.Size, o.Colour, Plural(o.Kind)}, " ")
		a.Kind, a.Colour = o.Kind, o.Colour
	default:
		b := sc.Objects[1]
		text = nounPhrase(sc.Size, b.Colour, b.Kind) + " " + sc.Relation + " " + nounPhrase(sc.Size, o.Colour, o.Kind)
		a.Kind, a.Colour, a.Kind2, a.Colour2, a.Relation = b.Kind, b.Colour, o.Kind, o.Colour, sc.Relation
	}
	return text + " on a " + sc.Background + " background", a
}
