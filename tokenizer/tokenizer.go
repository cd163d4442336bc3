package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"unicode/utf8"
)

// PAD is the padding id. min-dalle never looks it up in vocab.json: the
// encoder input is initialised with ones and the attention mask tests
// token != 1.
const PAD = 1

// Tokenizer is min-dalle's TextTokenizer. It is immutable after New and safe
// for concurrent use. Make one with New or Load: the zero value has no
// vocabulary and must not be used.
type Tokenizer struct {
	vocab         map[string]int // subword -> id, from vocab.json
	ranks         map[pair]int   // merge pair -> rank (0-based line index after the header)
	bos, eos, unk int            // ids of "<s>", "</s>", "<unk>"
	size          int            // max id + 1
	emoji         *emojiTable
}

// Load reads vocab.json and merges.txt from disk and calls New.
func Load(vocabPath, mergesPath string) (*Tokenizer, error) {
	v, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	m, err := os.ReadFile(mergesPath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return newTokenizer(v, m, vocabPath, mergesPath)
}

// New builds a Tokenizer from the contents of vocab.json (a JSON object
// subword -> non-negative integer id) and merges.txt (a "#version" header
// line, then one "left right" pair per line, then a trailing newline).
//
// As in min-dalle, merges.txt is split on "\n" and the first and last
// elements are dropped, so a file without a trailing newline loses its last
// merge. Line endings "\r\n" and "\r" count as "\n" (Python text mode). A pair
// listed twice gets the rank of its last occurrence (Python dict semantics).
// A line that is not exactly two whitespace-separated fields is an error
// (Python would keep it as a pair that can never match).
func New(vocabJSON, merges []byte) (*Tokenizer, error) {
	return newTokenizer(vocabJSON, merges, "vocab.json", "merges.txt")
}

func newTokenizer(vocabJSON, merges []byte, vocabName, mergesName string) (*Tokenizer, error) {
	em, err := loadEmojiTable()
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{emoji: em}

	dec := json.NewDecoder(bytes.NewReader(vocabJSON))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", vocabName, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("tokenizer: %s: not a JSON object", vocabName)
	}
	if tok, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("tokenizer: %s: trailing data after the object: %v", vocabName, tok)
	}
	t.vocab = make(map[string]int, len(raw))
	for k, v := range raw {
		num, ok := v.(json.Number)
		id, err := num.Int64()
		if !ok || err != nil || id < 0 || id > math.MaxInt32 {
			return nil, fmt.Errorf("tokenizer: %s: id of %q is %v, want a non-negative int32", vocabName, k, v)
		}
		t.vocab[k] = int(id)
		if int(id)+1 > t.size {
			t.size = int(id) + 1
		}
	}
	for _, s := range []struct {
		name string
		dst  *int
	}{{"<s>", &t.bos}, {"</s>", &t.eos}, {"<unk>", &t.unk}} {
		id, ok := t.vocab[s.name]
		if !ok {
			return nil, fmt.Errorf("tokenizer: %s: no %q entry", vocabName, s.name)
		}
		*s.dst = id
	}

	if !utf8.Valid(merges) {
		return nil, fmt.Errorf("tokenizer: %s: not valid UTF-8", mergesName)
	}
	text := strings.ReplaceAll(string(merges), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	lines := strings.Split(text, "\n")
	if len(lines) >= 2 {
		lines = lines[1 : len(lines)-1]
	} else {
		lines = nil
	}
	t.ranks = make(map[pair]int, len(lines))
	for i, line := range lines {
		f := pyFields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("tokenizer: %s line %d: %d fields %q, want a pair", mergesName, i+2, len(f), line)
		}
		t.ranks[pair{f[0], f[1]}] = i
	}
	return t, nil
}

// pyFields is Python's str.split() with no argument: split on runs of
// Unicode whitespace as Python defines it, dropping empty strings.
func pyFields(s string) []string {
	return strings.FieldsFunc(s, pyIsSpace)
}

// pyIsSpace is Python's str.isspace() for one character (the full list for
// Python 3.11). Unlike Go's unicode.IsSpace it includes U+001C..U+001F.
func pyIsSpace(r rune) bool {
	switch {
	case r >= 0x09 && r <= 0x0D, r >= 0x1C && r <= 0x20:
		return true
	case r == 0x85, r == 0xA0, r == 0x1680, r >= 0x2000 && r <= 0x200A,
		r == 0x2028, r == 0x2029, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

// BOS returns the id of "<s>".
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the id of "</s>".
func (t *Tokenizer) EOS() int { return t.eos }

// UNK returns the id of "<unk>".
func (t *Tokenizer) UNK() int { return t.unk }

// VocabSize returns the largest id in vocab.json plus one, so every id
// Tokenize returns is in [0, VocabSize()).
func (t *Tokenizer) VocabSize() int { return t.size }

// Demojize is Python emoji 2.2.0's emoji.demojize(text, delimiters=(”, ”)).
func (t *Tokenizer) Demojize(text string) string { return t.emoji.demojize(text) }

// Normalize returns the text min-dalle splits into words: demojize, then
// Python lower(), then every non-ASCII character dropped.
func (t *Tokenizer) Normalize(text string) string {
	return string(t.emoji.asciiLower(nil, t.emoji.demojize(text)))
}

// words splits the normalized text on ' ' and drops empty words.
func (t *Tokenizer) words(text string) []string {
	var out []string
	for _, w := range strings.Split(t.Normalize(text), " ") {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// Subwords returns the BPE pieces of text, word by word, without BOS/EOS.
// Word-initial pieces start with "Ġ" (U+0120).
func (t *Tokenizer) Subwords(text string) []string {
	var out []string
	for _, w := range t.words(text) {
		out = append(out, bpe(t.ranks, w)...)
	}
	return out
}

// Tokenize returns [BOS] + the vocab ids of Subwords(text) + [EOS]; a piece
// missing from the vocabulary becomes UNK. It never fails: any string,
// including invalid UTF-8, gives at least [BOS, EOS].
func (t *Tokenizer) Tokenize(text string) []int {
	ids := []int{t.bos}
	for _, s := range t.Subwords(text) {
		id, ok := t.vocab[s]
		if !ok {
			id = t.unk
		}
		ids = append(ids, id)
	}
	return append(ids, t.eos)
}

// TextRows builds min-dalle's two encoder input rows from Tokenize's output
// (generate_raw_image_stream). If len(tokens) > textLen the tokens are cut to
// textLen (so EOS is lost). Both rows have length textLen and are filled with
// PAD; uncond[0:2] = [tokens[0], tokens[last]] (normally [BOS, EOS], the empty
// prompt) and cond[0:len] = tokens. With textLen = 64 this is exactly
// min-dalle's text_tokens. Degenerate inputs do not panic: textLen <= 0 gives
// empty rows, a single token t gives uncond = [t, t, PAD...] as numpy would,
// and no tokens give all-PAD rows.
func TextRows(tokens []int, textLen int) (uncond, cond []int) {
	if textLen < 0 {
		textLen = 0
	}
	if len(tokens) > textLen {
		tokens = tokens[:textLen]
	}
	uncond = make([]int, textLen)
	cond = make([]int, textLen)
	for i := range textLen {
		uncond[i], cond[i] = PAD, PAD
	}
	if len(tokens) == 0 {
		return uncond, cond
	}
	head := []int{tokens[0], tokens[len(tokens)-1]}
	copy(uncond, head) // textLen 1 keeps only tokens[0], as numpy's [:2] would
	copy(cond, tokens)
	return uncond, cond
}
