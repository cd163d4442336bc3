package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// bpeNaive is a direct transcription of the rule in doc.go, independent of
// bpe's heap: rescan all adjacent pairs, take the lowest rank (leftmost on
// ties), stop if none is ranked, merge that one occurrence, repeat.
func bpeNaive(ranks map[pair]int, word string) []string {
	syms := []string{"\u0120"}
	for i := 0; i < len(word); i++ {
		syms = append(syms, word[i:i+1])
	}
	for len(syms) > 1 {
		best, at := -1, -1
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := ranks[pair{syms[i], syms[i+1]}]; ok && (best < 0 || r < best) {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		merged := syms[at] + syms[at+1]
		syms = slices.Replace(syms, at, at+2, merged)
	}
	return syms
}

// TestBPEWorkedExample is the example of doc.go.
func TestBPEWorkedExample(t *testing.T) {
	ranks := map[pair]int{
		{"a", "n"}: 0, {"Ġ", "b"}: 1, {"an", "a"}: 2, {"Ġb", "an"}: 3, {"n", "a"}: 4,
	}
	got := bpe(ranks, "banana")
	want := []string{"Ġban", "ana"}
	if !slices.Equal(got, want) {
		t.Errorf("bpe(banana) = %q, want %q", got, want)
	}
}

// TestBPEMatchesNaive compares the heap BPE with bpeNaive on random merge
// tables over a small alphabet (so that pairs repeat and ties happen),
// including tables whose ranks do not respect creation order.
func TestBPEMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "abc"
	for trial := 0; trial < 300; trial++ {
		// Symbols: Ġ, single letters, and random concatenations.
		syms := []string{"\u0120", "a", "b", "c"}
		for len(syms) < 12 {
			syms = append(syms, syms[rng.IntN(len(syms))]+syms[rng.IntN(len(syms))])
		}
		ranks := map[pair]int{}
		for r := 0; r < 25; r++ {
			ranks[pair{syms[rng.IntN(len(syms))], syms[rng.IntN(len(syms))]}] = rng.IntN(40)
		}
		for w := 0; w < 20; w++ {
			var b strings.Builder
			n := 1 + rng.IntN(14)
			for i := 0; i < n; i++ {
				b.WriteByte(alphabet[rng.IntN(len(alphabet))])
			}
			word := b.String()
			if got, want := bpe(ranks, word), bpeNaive(ranks, word); !slices.Equal(got, want) {
				t.Fatalf("ranks %v word %q: bpe %q, naive %q", ranks, word, got, want)
			}
		}
	}
}
