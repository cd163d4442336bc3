package shapes64

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The scorer must be right on ground-truth renders: every scene, scored
// against its own full caption, passes every attribute.
func TestScorerOnGroundTruth(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 60
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i := range n {
		split := "train"
		if i%2 == 1 {
			split = "heldout"
		}
		sc, err := SampleScene(r, split)
		if err != nil {
			t.Fatal(err)
		}
		text, a := Caption(sc)
		if v := Score(Render(sc.Background, sc.Objects), a); !v.All() {
			t.Errorf("ground truth fails: %q: %v (objects %+v)", text, v, sc.Objects)
		}
	}
}

// The scorer must also be able to say no: a wrong caption fails.
func TestScorerRejectsWrongCaptions(t *testing.T) {
	sc := Scene{Type: "single", Background: "black", Size: "large", Position: "center",
		Objects: []Object{{"star", "blue", 24, 32, 32}}}
	img := Render(sc.Background, sc.Objects)
	_, a := Caption(sc)
	for name, mutate := range map[string]func(*Assertion){
		"kind":       func(a *Assertion) { a.Kind = "circle" },
		"colour":     func(a *Assertion) { a.Colour = "red" },
		"size":       func(a *Assertion) { a.Size = "small" },
		"position":   func(a *Assertion) { a.Position = "top left" },
		"background": func(a *Assertion) { a.Background = "white" },
		"count":      func(a *Assertion) { a.Count = 2 },
	} {
		b := a
		mutate(&b)
		if v := Score(img, b); v[name] || v.All() {
			t.Errorf("%s changed, verdict %v", name, v)
		}
	}
}

func TestSplitsRespectHeldOutPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		sc, _ := SampleScene(r, "train")
		for _, o := range sc.Objects {
			if HeldOut(o.Kind, o.Colour) {
				t.Fatalf("train scene uses held-out pair %s/%s", o.Kind, o.Colour)
			}
		}
		sc, _ = SampleScene(r, "heldout")
		held := false
		for _, o := range sc.Objects {
			held = held || HeldOut(o.Kind, o.Colour)
		}
		if !held {
			t.Fatalf("held-out scene without a held-out pair: %+v", sc.Objects)
		}
	}
	if _, err := SampleScene(r, "nope"); err == nil {
		t.Fatal("unknown split accepted")
	}
}

func ExampleCaption() {
	sc := Scene{Type: "relation", Background: "white", Size: "small", Relation: "below",
		Objects: []Object{{"triangle", "purple", 10, 32, 12}, {"cross", "red", 10, 32, 40}}}
	text, _ := Caption(sc)
	fmt.Println(text)
	// Output: a small red cross below a small purple triangle on a white background
}
