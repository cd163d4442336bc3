package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testdata = "../testdata/tokenizer"

func loadTest(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := Load(filepath.Join(testdata, "vocab.json"), filepath.Join(testdata, "merges.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type goldenFile struct {
	Cases []struct {
		Text       string   `json:"text"`
		Normalized string   `json:"normalized"`
		Subwords   []string `json:"subwords"`
		IDs        []int    `json:"ids"`
	} `json:"cases"`
	Rows []struct {
		Text   string `json:"text"`
		Uncond []int  `json:"uncond"`
		Cond   []int  `json:"cond"`
	} `json:"rows"`
}

func readGolden(t *testing.T) goldenFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 50 || len(g.Rows) != 2 {
		t.Fatalf("golden.json: %d cases, %d rows", len(g.Cases), len(g.Rows))
	}
	return g
}

// TestGolden compares with min-dalle's TextTokenizer (golden.json, made by
// training/tokenizer_golden.py): normalized text, BPE pieces and ids, exactly.
func TestGolden(t *testing.T) {
	tok := loadTest(t)
	for _, c := range readGolden(t).Cases {
		if got := tok.Normalize(c.Text); got != c.Normalized {
			t.Errorf("Normalize(%q) = %q, want %q", c.Text, got, c.Normalized)
		}
		if got := tok.Subwords(c.Text); !slices.Equal(got, c.Subwords) {
			t.Errorf("Subwords(%q) = %q, want %q", c.Text, got, c.Subwords)
		}
		if got := tok.Tokenize(c.Text); !slices.Equal(got, c.IDs) {
			t.Errorf("Tokenize(%q) = %v, want %v", c.Text, got, c.IDs)
		}
	}
}

// TestGoldenTextRows checks TextRows against min_dalle.py's text_tokens
// array for a prompt longer than 64 tokens and a short one.
func TestGoldenTextRows(t *testing.T) {
	tok := loadTest(t)
	g := readGolden(t)
	long := tok.Tokenize(g.Rows[0].Text)
	if len(long) <= 64 {
		t.Fatalf("long prompt has %d tokens, want > 64", len(long))
	}
	for _, r := range g.Rows {
		u, c := TextRows(tok.Tokenize(r.Text), 64)
		if !slices.Equal(u, r.Uncond) || !slices.Equal(c, r.Cond) {
			t.Errorf("TextRows(%q):\n uncond %v\n want   %v\n cond %v\n want %v", r.Text, u, r.Uncond, c, r.Cond)
		}
	}
}

func TestTextRows(t *testing.T) {
	for _, tc := range []struct {
		tokens       []int
		n            int
		uncond, cond []int
	}{
		{[]int{0, 7, 8, 2}, 6, []int{0, 2, 1, 1, 1, 1}, []int{0, 7, 8, 2, 1, 1}},
		{[]int{0, 7, 8, 9, 2}, 3, []int{0, 8, 1}, []int{0, 7, 8}}, // EOS cut off
		{[]int{0, 2}, 2, []int{0, 2}, []int{0, 2}},
		{[]int{5}, 3, []int{5, 5, 1}, []int{5, 1, 1}},
		{[]int{0, 2}, 1, []int{0}, []int{0}},
		{nil, 2, []int{1, 1}, []int{1, 1}},
		{[]int{0, 2}, 0, []int{}, []int{}},
		{[]int{0, 2}, -3, []int{}, []int{}},
	} {
		u, c := TextRows(tc.tokens, tc.n)
		if !slices.Equal(u, tc.uncond) || !slices.Equal(c, tc.cond) {
			t.Errorf("TextRows(%v, %d) = %v, %v; want %v, %v", tc.tokens, tc.n, u, c, tc.uncond, tc.cond)
		}
	}
	// TextRows must not alias its input.
	in := []int{0, 5, 2}
	_, c := TextRows(in, 4)
	c[1] = 99
	if in[1] != 5 {
		t.Error("TextRows aliases its input")
	}
}

func TestSpecialIDs(t *testing.T) {
	tok := loadTest(t)
	if tok.BOS() != 0 || tok.EOS() != 2 || tok.UNK() != 3 || PAD != 1 {
		t.Errorf("BOS %d EOS %d UNK %d PAD %d, want 0 2 3 1", tok.BOS(), tok.EOS(), tok.UNK(), PAD)
	}
	b, err := os.ReadFile(filepath.Join(testdata, "vocab.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]int
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	maxID := 0
	for _, id := range v {
		maxID = max(maxID, id)
	}
	if tok.VocabSize() != maxID+1 {
		t.Errorf("VocabSize %d, want %d", tok.VocabSize(), maxID+1)
	}
	// Special ids come from the file, not from BART's convention.
	tok2, err := New([]byte(`{"</s>": 7, "<s>": 5, "<unk>": 9, "x": 11}`), []byte("#v\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok2.Tokenize("x y"); !slices.Equal(got, []int{5, 9, 11, 9, 9, 7}) {
		// No merges: "x" -> ["Ġ","x"], "y" -> ["Ġ","y"]; only "x" is in the vocab.
		t.Errorf("Tokenize = %v", got)
	}
	if tok2.VocabSize() != 12 {
		t.Errorf("VocabSize = %d, want 12", tok2.VocabSize())
	}
}

func TestNewErrors(t *testing.T) {
	good := `{"<s>":0,"<pad>":1,"</s>":2,"<unk>":3}`
	for _, tc := range []struct {
		name, vocab, merges, want string
	}{
		{"bad json", `{"<s>":0,`, "#v\n", "vocab.json"},
		{"not object", `[1,2]`, "#v\n", "vocab.json"},
		{"null", `null`, "#v\n", "vocab.json"},
		{"trailing", good + `{}`, "#v\n", "vocab.json"},
		{"float id", `{"<s>":0.5,"</s>":2,"<unk>":3}`, "#v\n", "vocab.json"},
		{"negative id", `{"<s>":-1,"</s>":2,"<unk>":3}`, "#v\n", "vocab.json"},
		{"string id", `{"<s>":"0","</s>":2,"<unk>":3}`, "#v\n", "vocab.json"},
		{"no bos", `{"</s>":2,"<unk>":3}`, "#v\n", `"<s>"`},
		{"no eos", `{"<s>":0,"<unk>":3}`, "#v\n", `"</s>"`},
		{"no unk", `{"<s>":0,"</s>":2}`, "#v\n", `"<unk>"`},
		{"one field", good, "#v\na b\nc\n", "merges.txt line 3"},
		{"three fields", good, "#v\na b c\n", "merges.txt line 2"},
		{"empty line", good, "#v\n\na b\n", "merges.txt line 2"},
		{"invalid utf8", good, "#v\na \xff\n", "merges.txt"},
	} {
		_, err := New([]byte(tc.vocab), []byte(tc.merges))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %s", tc.name, err, tc.want)
		}
	}
	dir := t.TempDir()
	vp, mp := filepath.Join(dir, "v.json"), filepath.Join(dir, "m.txt")
	if err := os.WriteFile(vp, []byte(`{oops`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mp, []byte("#v\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(vp, mp); err == nil || !strings.Contains(err.Error(), vp) {
		t.Errorf("Load with bad vocab: err = %v, want the path %s", err, vp)
	}
	if _, err := Load(filepath.Join(dir, "missing.json"), mp); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("Load with missing file: err = %v", err)
	}
}

// TestMergesFileQuirks: header and last element dropped, CR/CRLF newlines,
// Python whitespace splitting, duplicate pairs keep the last rank.
func TestMergesFileQuirks(t *testing.T) {
	vocab := []byte(`{"<s>":0,"<pad>":1,"</s>":2,"<unk>":3,"Ġ":4,"a":5,"b":6,"Ġa":7,"ab":8,"Ġab":9}`)
	for _, tc := range []struct {
		merges string
		want   []string
	}{
		{"#v\nĠ a\n", []string{"Ġa", "b"}},
		{"#v\nĠ a", []string{"Ġ", "a", "b"}},       // no trailing newline: last merge lost
		{"Ġ a\na b\n", []string{"Ġ", "ab"}},        // first line is always dropped
		{"#v\r\nĠ a\r\nĠa b\r\n", []string{"Ġab"}}, // CRLF
		{"#v\rĠ a\rĠa b\r", []string{"Ġab"}},       // old Mac CR
		{"#v\n  Ġ\ta \x1c\n", []string{"Ġa", "b"}}, // str.split() whitespace incl. U+001C
		{"#v\na b\nĠ a\n", []string{"Ġ", "ab"}},
		{"#v\na b\nĠ a\nĠ ab\n", []string{"Ġab"}},
		{"#v\nĠ ab\na b\nĠ a\n", []string{"Ġab"}},
		// ("a","b") listed twice: its rank is the last index, so "Ġ a" wins.
		{"#v\na b\nĠ a\na b\n", []string{"Ġa", "b"}},
	} {
		tok, err := New(vocab, []byte(tc.merges))
		if err != nil {
			t.Fatalf("%q: %v", tc.merges, err)
		}
		if got := tok.Subwords("ab"); !slices.Equal(got, tc.want) {
			t.Errorf("merges %q: Subwords(ab) = %q, want %q", tc.merges, got, tc.want)
		}
	}
}

// TestNormalize covers Python's lower() cases that survive the ASCII filter.
func TestNormalize(t *testing.T) {
	tok := loadTest(t)
	for in, want := range map[string]string{
		"İ":                        "i", // U+0130 lowers to "i" + U+0307
		"\u212a":                   "k", // Kelvin sign
		"5\u212A İstanbul":         "5k istanbul",
		"WALL·E":                   "walle",
		"Ångström ÀÉ":              "ngstrm ",
		"ÄBC\tDEF\n":               "bc\tdef\n",
		"ＡＢＣ":                      "", // fullwidth letters lower to fullwidth
		"❤️ Love":                  "red_heart love",
		"🇦🇽":                       "land_islands", // name "Åland_Islands"
		"\xff\xfe ok \xf0\x9f\x98": " ok ",         // invalid UTF-8 is dropped
	} {
		if got := tok.Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTokenizeLongInput: a 40000-byte word and 1000 emoji in one call.
func TestTokenizeLongInput(t *testing.T) {
	tok := loadTest(t)
	word := strings.Repeat("ab", 20000)
	got := tok.Tokenize(word + " " + strings.Repeat("🍕", 1000))
	if len(got) < 3 || got[0] != tok.BOS() || got[len(got)-1] != tok.EOS() {
		t.Fatalf("bad framing, len %d", len(got))
	}
	short := word[:600]
	if a, b := tok.Subwords(short), bpeNaive(tok.ranks, short); !slices.Equal(a, b) {
		t.Errorf("Subwords(%q) = %q, naive BPE %q", short, a, b)
	}
}
