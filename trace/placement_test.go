package trace_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/trace"
)

// On the trained default model, the cross-attention maps of a prompt that
// puts one large object in a corner ("a large red circle at the top left on
// a black background"; 8 prompts per corner: kinds × colours, fixed seeds)
// are measured two ways, averaged over layers and heads:
//
//   - the object's words (its colour and kind) have their focus
//     (Trace.CrossFocus: the centre of the map's above-average part) in the
//     named corner: the left corners' foci lie left of the right corners',
//     and the top corners' above the bottom ones', by more than 0.05 of the
//     image (measured on the shipped model: Δx −0.16, Δy −0.19);
//   - the position words ("top", "left", … after "at the") have centres
//     (Trace.CrossCentroid) that tell the corners apart by more than 0.03,
//     but mirrored: "left" lands right of "right" and "top" below "bottom"
//     (measured Δx +0.128, Δy +0.059, as on the first, CPU-trained model,
//     Δx +0.106, Δy +0.050; reported in docs/default-model.md). The test
//     asks only for the separation there.
func TestDefaultModelPlacesCornerWords(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 32 images")
	}
	e, err := local.Open(local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Untrained() {
		t.Skip("no trained default model is embedded")
	}
	d := e.Defaults()
	corners := []string{"top left", "top right", "bottom left", "bottom right"}
	kinds := []string{"circle", "square", "star", "hexagon"}
	colours := []string{"red", "blue", "yellow", "green"}
	backgrounds := []string{"black", "white"}
	type point struct{ x, y float64 }
	posWords, objWords := map[string]point{}, map[string]point{}
	for _, corner := range corners {
		var pos, obj point
		var np, no int
		for i := range 8 {
			colour, kind := colours[i%4], kinds[(i/2)%4]
			prompt := fmt.Sprintf("a large %s %s at the %s on a %s background",
				colour, kind, corner, backgrounds[i%2])
			tr, err := trace.Record(context.Background(), e.Model(), e.Tokenizer(), prompt, trace.Options{
				Seed: uint64(100 + i), Temperature: float32(d.Temperature), TopK: d.TopK,
				Supercondition: float32(d.Supercondition)})
			if err != nil {
				t.Fatal(err)
			}
			at := func(w string) int {
				j := lastLabel(tr.TextLabels, w)
				if j < 0 {
					t.Fatalf("%q: no text position for %q in %v", prompt, w, tr.TextLabels)
				}
				return j
			}
			// The position words are the last occurrences (after "at the").
			for _, w := range strings.Fields(corner) {
				x, y := tr.CrossCentroid(at(w))
				pos.x, pos.y, np = pos.x+x, pos.y+y, np+1
			}
			for _, w := range []string{colour, kind} {
				x, y := tr.CrossFocus(at(w))
				obj.x, obj.y, no = obj.x+x, obj.y+y, no+1
			}
		}
		posWords[corner] = point{pos.x / float64(np), pos.y / float64(np)}
		objWords[corner] = point{obj.x / float64(no), obj.y / float64(no)}
		t.Logf("%-12s object words' focus (%.3f, %.3f); position words' centre (%.3f, %.3f)", corner,
			objWords[corner].x, objWords[corner].y, posWords[corner].x, posWords[corner].y)
	}
	delta := func(p map[string]point) (dx, dy float64) {
		dx = (p["top left"].x+p["bottom left"].x)/2 - (p["top right"].x+p["bottom right"].x)/2
		dy = (p["top left"].y+p["top right"].y)/2 - (p["bottom left"].y+p["bottom right"].y)/2
		return dx, dy
	}
	ox, oy := delta(objWords)
	px, py := delta(posWords)
	t.Logf("left − right, top − bottom (negative: the named side): object words' focus Δx %+.3f, Δy %+.3f; "+
		"position words' centre Δx %+.3f, Δy %+.3f", ox, oy, px, py)
	if ox >= -0.05 || oy >= -0.05 {
		t.Errorf("the object words' maps do not focus on the named corner: Δx %+.3f, Δy %+.3f (want < −0.05)", ox, oy)
	}
	if math.Abs(px) <= 0.03 || math.Abs(py) <= 0.03 {
		t.Errorf("the position words' maps do not separate the corners: Δx %+.3f, Δy %+.3f (want |Δ| > 0.03)", px, py)
	}
}

// lastLabel is the last index whose subword label is w (with or without the
// BPE space marker).
func lastLabel(labels []string, w string) int {
	for j := len(labels) - 1; j >= 0; j-- {
		if strings.TrimPrefix(labels[j], "Ġ") == w {
			return j
		}
	}
	return -1
}
