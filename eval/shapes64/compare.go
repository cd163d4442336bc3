package shapes64

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Comparison pairs two evaluations of the same prompts (the same split,
// scenes and order; the sampling seeds may differ) prompt by prompt: which
// of them got each prompt fully right. With two models on one draw it
// says what a change fixed and what it broke; with one model on two draws
// (EvalOptions.SampleSeed) it shows how much the draw alone moves.
type Comparison struct {
	A, B *Report
	// Groups[g] counts the prompts of group g (Groups: every scene, then
	// each scene type) by outcome.
	Groups map[string]Pairs
	// OnlyA and OnlyB list the prompts (indices into Items) right in one
	// report only.
	OnlyA, OnlyB []int
}

// Pairs counts paired outcomes: Both right, OnlyA, OnlyB, Neither.
type Pairs struct {
	Both, OnlyA, OnlyB, Neither int
}

// add counts one prompt that A got right (ra) or not and B (rb).
func (p *Pairs) add(ra, rb bool) {
	switch {
	case ra && rb:
		p.Both++
	case ra:
		p.OnlyA++
	case rb:
		p.OnlyB++
	default:
		p.Neither++
	}
}

// Total is the number of prompts counted.
func (p Pairs) Total() int { return p.Both + p.OnlyA + p.OnlyB + p.Neither }

// McNemar returns the exact two-sided McNemar p-value of the discordant
// prompts: the probability, were A and B equally good, of a split of the
// OnlyA + OnlyB prompts at least as uneven as this one,
//
//	p = min(1, 2 · Σ_{i ≤ min(OnlyA, OnlyB)} C(d, i) / 2^d),  d = OnlyA + OnlyB,
//
// 1 when no prompt differs.
func (p Pairs) McNemar() float64 {
	d := p.OnlyA + p.OnlyB
	lo := min(p.OnlyA, p.OnlyB)
	var sum float64
	for i := 0; i <= lo; i++ {
		sum += math.Exp(logChoose(d, i) - float64(d)*math.Ln2)
	}
	return min(1, 2*sum)
}

// logChoose is log C(n, k).
func logChoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// Compare pairs two reports of the same prompts. It fails unless both have
// the same split, scene seed and number of items, with the same caption at
// every index.
func Compare(a, b *Report) (*Comparison, error) {
	if a == nil || b == nil {
		return nil, fmt.Errorf("compare: a nil report")
	}
	for _, r := range []*Report{a, b} {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
	}
	switch {
	case a.Split != b.Split || a.Seed != b.Seed || len(a.Items) != len(b.Items):
		return nil, fmt.Errorf("compare: different prompts: split %s, scene seed %d, %d items against split %s, scene seed %d, %d items",
			a.Split, a.Seed, len(a.Items), b.Split, b.Seed, len(b.Items))
	case len(a.Items) == 0:
		return nil, fmt.Errorf("compare: the reports have no items")
	}
	c := &Comparison{A: a, B: b, Groups: map[string]Pairs{}}
	for i, x := range a.Items {
		y := b.Items[i]
		if x.Caption != y.Caption {
			return nil, fmt.Errorf("compare: prompt %d differs: %q against %q", i, x.Caption, y.Caption)
		}
		ra, rb := x.Verdict.All(), y.Verdict.All()
		for _, g := range []string{Groups[0], x.Scene.Type} {
			p := c.Groups[g]
			p.add(ra, rb)
			c.Groups[g] = p
		}
		switch {
		case ra && !rb:
			c.OnlyA = append(c.OnlyA, i)
		case rb && !ra:
			c.OnlyB = append(c.OnlyB, i)
		}
	}
	return c, nil
}

// check refuses what eval shapes never writes: no items, a prompt count
// that disagrees with them, an item without a caption or without the
// verdicts Score always gives (count, kind, colour). A report read from a
// file that is JSON but not a report (null, {}, a hand-edited one) would
// otherwise count its items as right.
func (r *Report) check() error {
	switch {
	case r.Split != "train" && r.Split != "heldout":
		return fmt.Errorf("not a report of eval shapes (split %q)", r.Split)
	case len(r.Items) == 0:
		return fmt.Errorf("a report with no items")
	case r.N != len(r.Items):
		return fmt.Errorf("the report says n = %d but holds %d items", r.N, len(r.Items))
	}
	for i, it := range r.Items {
		if it.Caption == "" {
			return fmt.Errorf("item %d has no caption", i)
		}
		for _, k := range []string{"count", "kind", "colour"} {
			if _, ok := it.Verdict[k]; !ok {
				return fmt.Errorf("item %d (%q) has no %s verdict", i, it.Caption, k)
			}
		}
	}
	return nil
}

// WriteMarkdown writes the paired table (one row per group) and the
// prompts right in one report only.
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	name := func(r *Report) string { // the items' seeds: reports written before SampleSeed lack it
		k := "one image per prompt"
		if r.Candidates > 1 {
			k = fmt.Sprintf("best of %d", r.Candidates)
		}
		return fmt.Sprintf("%s, sampled with seeds %d…, %s", r.Model, r.Items[0].Seed, k)
	}
	fmt.Fprintf(&b, "shapes64 comparison, split %s, scenes of seed %d, %d prompts\n\nA: %s\nB: %s\n\n",
		c.A.Split, c.A.Seed, len(c.A.Items), name(c.A), name(c.B))
	b.WriteString("| scenes | A right | B right | both | only A | only B | neither | McNemar p |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, g := range Groups {
		p, ok := c.Groups[g]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s (%d) | %d | %d | %d | %d | %d | %d | %.3g |\n", g, p.Total(),
			p.Both+p.OnlyA, p.Both+p.OnlyB, p.Both, p.OnlyA, p.OnlyB, p.Neither, p.McNemar())
	}
	for _, side := range []struct {
		label string
		idx   []int
	}{{"A", c.OnlyA}, {"B", c.OnlyB}} {
		fmt.Fprintf(&b, "\nRight in %s only (%d):\n", side.label, len(side.idx))
		for _, i := range side.idx {
			fmt.Fprintf(&b, "- %d: %s\n", i, c.A.Items[i].Caption)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
