package shapes64

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tessella-ml/tessella/weights"
)

// testdata/shapes64/golden.{json,safetensors} are written by
// training/shapes64_golden.py: 24 scenes drawn by the Python reference
// (training/shapes64.py), with its renders (uint8, (24, 64, 64, 3)), full
// captions, assertions, parses and verdicts. The Go port must reproduce
// every one of them exactly (centroids to 1e-9 px).
var goldenDir = filepath.Join("..", "..", "testdata", "shapes64")

type goldenScene struct {
	Scene struct {
		Type, Background, Size, Position, Relation string
		Count                                      int
	}
	Objects          [][5]any // [kind, colour, side, cx, cy]
	Caption          string
	Asserted         map[string]any
	ParsedBackground string `json:"parsed_background"`
	Parsed           []struct {
		Kind, Size, Colour, Position string
		CX                           float64 `json:"cx"`
		CY                           float64 `json:"cy"`
	}
	Verdict map[string]bool
}

func loadGolden(t *testing.T) ([]goldenScene, *weights.File) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gs []goldenScene
	if err := json.Unmarshal(b, &gs); err != nil {
		t.Fatalf("golden.json: %v", err)
	}
	f, err := weights.Open(filepath.Join(goldenDir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return gs, f
}

// scene rebuilds the Go Scene from the golden's description.
func (g goldenScene) scene() (Scene, error) {
	sc := Scene{Type: g.Scene.Type, Background: g.Scene.Background, Size: g.Scene.Size,
		Position: g.Scene.Position, Relation: g.Scene.Relation}
	for _, o := range g.Objects {
		kind, ok1 := o[0].(string)
		colour, ok2 := o[1].(string)
		side, ok3 := o[2].(float64)
		cx, ok4 := o[3].(float64)
		cy, ok5 := o[4].(float64)
		if !(ok1 && ok2 && ok3 && ok4 && ok5) {
			return Scene{}, fmt.Errorf("object %v: want [kind, colour, side, cx, cy]", o)
		}
		sc.Objects = append(sc.Objects, Object{Kind: kind, Colour: colour, Size: int(side), CX: cx, CY: cy})
	}
	return sc, nil
}

// assertion converts the Python asserted dict (absent or null = not said).
func (g goldenScene) assertion(t *testing.T) Assertion {
	str := func(k string) string {
		s, _ := g.Asserted[k].(string)
		return s
	}
	n, ok := g.Asserted["count"].(float64)
	if !ok {
		t.Fatalf("asserted %v lacks a count", g.Asserted)
	}
	return Assertion{Type: str("type"), Count: int(n), Kind: str("kind"), Colour: str("colour"),
		Kind2: str("kind2"), Colour2: str("colour2"), Size: str("size"), Position: str("position"),
		Background: str("background"), Relation: str("relation")}
}

func TestGoldenParity(t *testing.T) {
	gs, f := loadGolden(t)
	imgs, ok := f.Tensor("images")
	if !ok {
		t.Fatal("golden.safetensors lacks images")
	}
	if imgs.DType != weights.U8 || len(imgs.Shape) != 4 || imgs.Shape[0] != len(gs) ||
		imgs.Shape[1] != 64 || imgs.Shape[2] != 64 || imgs.Shape[3] != 3 {
		t.Fatalf("images: %s %v, want U8 (%d, 64, 64, 3)", imgs.DType, imgs.Shape, len(gs))
	}
	pix := imgs.Bytes()
	types := map[string]int{}
	for i, g := range gs {
		sc, err := g.scene()
		if err != nil {
			t.Fatalf("scene %d: %v", i, err)
		}
		types[sc.Type]++
		want := pix[i*64*64*3 : (i+1)*64*64*3]

		// Render: every byte equal.
		img := Render(sc.Background, sc.Objects)
		bad, worst := 0, 0
		for p := range 64 * 64 {
			for c := range 3 {
				if d := abs(int(img.Pix[p*4+c]) - int(want[p*3+c])); d != 0 {
					bad, worst = bad+1, max(worst, d)
				}
			}
		}
		if bad != 0 {
			t.Errorf("scene %d (%q): %d bytes differ from Python's render, worst by %d", i, g.Caption, bad, worst)
		}

		// Caption and assertion.
		text, a := Caption(sc)
		if text != g.Caption {
			t.Errorf("scene %d: caption %q, Python %q", i, text, g.Caption)
		}
		if wa := g.assertion(t); a != wa {
			t.Errorf("scene %d: assertion %+v, Python %+v", i, a, wa)
		}

		// Parse of Python's pixels (so a render mismatch does not hide a
		// parser mismatch).
		py := Render(sc.Background, nil)
		for p := range 64 * 64 {
			copy(py.Pix[p*4:p*4+3], want[p*3:p*3+3])
		}
		bg, objs := Parse(py)
		if bg != g.ParsedBackground {
			t.Errorf("scene %d: background %q, Python %q", i, bg, g.ParsedBackground)
		}
		if len(objs) != len(g.Parsed) {
			t.Errorf("scene %d: %d objects, Python %d", i, len(objs), len(g.Parsed))
		} else {
			for k, o := range objs {
				w := g.Parsed[k]
				if o.Kind != w.Kind || o.Size != w.Size || o.Colour != w.Colour || o.Position != w.Position ||
					math.Abs(o.CX-w.CX) > 1e-9 || math.Abs(o.CY-w.CY) > 1e-9 {
					t.Errorf("scene %d object %d: %+v, Python %+v", i, k, o, w)
				}
			}
		}

		// Verdict, with Python's "all".
		v := Score(py, a)
		got := map[string]bool{"all": v.All()}
		for k, x := range v {
			got[k] = x
		}
		if fmt.Sprint(got) != fmt.Sprint(g.Verdict) { // fmt sorts map keys
			t.Errorf("scene %d: verdict %v, Python %v", i, got, g.Verdict)
		}
	}
	for _, ty := range []string{"single", "count", "relation"} {
		if types[ty] == 0 {
			t.Errorf("the golden has no %s scene", ty)
		}
	}
}
