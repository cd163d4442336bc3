package shapes64

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// report builds a Report of len(right) prompts; prompt i is a scene of
// type types[i%len(types)] with the caption "prompt " + the i-th letter.
func report(seed uint64, right []bool, types ...string) *Report {
	r := &Report{Model: "m", Split: "train", N: len(right), Seed: seed, SampleSeed: seed}
	for i, ok := range right {
		r.Items = append(r.Items, Item{Caption: "prompt " + string(rune('a'+i)), Seed: seed + uint64(i),
			Scene: Scene{Type: types[i%len(types)]}, Verdict: Verdict{"count": true, "kind": ok, "colour": true}})
	}
	return r
}

func TestCompare(t *testing.T) {
	//              0     1      2      3     4      5
	a := report(1, []bool{true, true, false, false, true, false}, "single", "count")
	b := report(1, []bool{true, false, true, false, true, true}, "single", "count")
	b.SampleSeed, b.Model = 100, "other" // another draw or model: still the same prompts
	for i := range b.Items {
		b.Items[i].Seed = 100 + uint64(i)
	}
	c, err := Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Pairs{
		"all scenes": {Both: 2, OnlyA: 1, OnlyB: 2, Neither: 1},
		"single":     {Both: 2, OnlyA: 0, OnlyB: 1, Neither: 0}, // prompts 0, 2, 4
		"count":      {Both: 0, OnlyA: 1, OnlyB: 1, Neither: 1}, // prompts 1, 3, 5
	}
	for g, p := range want {
		if c.Groups[g] != p {
			t.Errorf("%s: %+v, want %+v", g, c.Groups[g], p)
		}
	}
	if !slices.Equal(c.OnlyA, []int{1}) || !slices.Equal(c.OnlyB, []int{2, 5}) {
		t.Errorf("only A %v, only B %v; want [1] and [2 5]", c.OnlyA, c.OnlyB)
	}
	var md strings.Builder
	if err := c.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| all scenes (6) | 3 | 4 | 2 | 1 | 2 | 1 |", "| count (3) | 1 | 1 | 0 | 1 | 1 | 1 |",
		"Right in A only (1):\n- 1: prompt b", "Right in B only (2):\n- 2: prompt c\n- 5: prompt f", "sampled with seeds 100…"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("Markdown lacks %q:\n%s", s, md.String())
		}
	}
	if strings.Contains(md.String(), "| relation") {
		t.Errorf("Markdown has a row for a scene type with no prompts:\n%s", md.String())
	}
}

// McNemar's exact p-value: the binomial tail of the discordant prompts.
func TestMcNemar(t *testing.T) {
	for _, c := range []struct {
		a, b int
		want float64
	}{
		{0, 0, 1},
		{3, 3, 1},
		{0, 5, 2.0 / 32},
		{5, 0, 2.0 / 32},
		{1, 9, 2 * 11.0 / 1024},
		{2, 8, 2 * 56.0 / 1024},
		{10, 30, 0.0022214337732293643}, // 2·Σ_{i≤10} C(40, i) / 2^40
	} {
		got := Pairs{Both: 7, OnlyA: c.a, OnlyB: c.b, Neither: 2}.McNemar()
		if math.Abs(got-c.want) > 1e-9*c.want {
			t.Errorf("McNemar(%d, %d) = %.6g, want %.6g", c.a, c.b, got, c.want)
		}
	}
}

func TestCompareRefusesOtherPrompts(t *testing.T) {
	base := report(1, []bool{true, false, true}, "single")
	other := report(1, []bool{true, false, true}, "single")
	other.Items[2].Caption = "something else"
	for name, b := range map[string]*Report{
		"scene seed": report(2, []bool{true, false, true}, "single"),
		"length":     report(1, []bool{true, false}, "single"),
		"caption":    other,
		"split":      func() *Report { r := report(1, []bool{true, false, true}, "single"); r.Split = "heldout"; return r }(),
		"nil":        nil,
	} {
		if _, err := Compare(base, b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Compare(report(1, nil, "single"), report(1, nil, "single")); err == nil {
		t.Error("empty reports: no error")
	}
}

// TestCompareRefusesMalformedReports: JSON that is not what eval shapes
// writes is refused, not counted (an item without verdicts would be "right").
func TestCompareRefusesMalformedReports(t *testing.T) {
	for name, mutate := range map[string]func(r *Report){
		"empty verdict": func(r *Report) { r.Items[1].Verdict = Verdict{} },
		"nil verdict":   func(r *Report) { r.Items[1].Verdict = nil },
		"no count":      func(r *Report) { delete(r.Items[0].Verdict, "count") },
		"no caption":    func(r *Report) { r.Items[0].Caption = "" },
		"n too large":   func(r *Report) { r.N = 5 },
		"n negative":    func(r *Report) { r.N = -1 },
		"no split":      func(r *Report) { r.Split = "" },
		"zero value":    func(r *Report) { *r = Report{} },
	} {
		a, b := report(1, []bool{true, false, true}, "single"), report(1, []bool{true, false, true}, "single")
		mutate(b)
		if _, err := Compare(a, b); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := Compare(b, a); err == nil {
			t.Errorf("%s, as the first report: accepted", name)
		}
	}
}
