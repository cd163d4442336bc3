package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// FuzzTokenize: any input gives [BOS, ..., EOS] with ids in range, the
// pieces between them match Subwords, and each word's pieces match the naive
// BPE (for words short enough to run it quickly).
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{
		"", " ", "a red circle", "WALL·E", "İ\u212a", "❤️‍🔥 ❤️‍x", "👨‍👩‍👧‍👦👨‍👩",
		"🇺🇸🇺", "#️⃣1⃣", "tab\there\nnew", "\xff\xf0\x9f\x98", "aaaaaaaaab", "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
	} {
		f.Add(s)
	}
	tok := loadTest(f)
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Tokenize(s)
		if len(ids) < 2 || ids[0] != tok.BOS() || ids[len(ids)-1] != tok.EOS() {
			t.Fatalf("Tokenize(%q) = %v: bad framing", s, ids)
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("Tokenize(%q): id %d out of range", s, id)
			}
		}
		subs := tok.Subwords(s)
		if len(subs) != len(ids)-2 {
			t.Fatalf("Tokenize(%q): %d ids for %d subwords", s, len(ids), len(subs))
		}
		norm := tok.Normalize(s)
		for i := 0; i < len(norm); i++ {
			if norm[i] >= 0x80 || ('A' <= norm[i] && norm[i] <= 'Z') {
				t.Fatalf("Normalize(%q) = %q: not lowercase ASCII", s, norm)
			}
		}
		// Concatenated, the pieces spell the words, each prefixed with Ġ.
		var spelled strings.Builder
		for _, w := range strings.Split(norm, " ") {
			if w != "" {
				spelled.WriteString("\u0120" + w)
			}
		}
		if strings.Join(subs, "") != spelled.String() {
			t.Fatalf("Subwords(%q) = %q do not spell %q", s, subs, norm)
		}
		var want []string
		for _, w := range strings.Split(norm, " ") {
			if w != "" && len(w) <= 200 {
				want = append(want, bpeNaive(tok.ranks, w)...)
			} else if w != "" {
				want = append(want, bpe(tok.ranks, w)...)
			}
		}
		if !slices.Equal(subs, want) {
			t.Fatalf("Subwords(%q) = %q, naive %q", s, subs, want)
		}
	})
}
