package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func table(t testing.TB) *emojiTable {
	t.Helper()
	tab, err := loadEmojiTable()
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestEmojiTable(t *testing.T) {
	tab := table(t)
	if len(tab.keys) != 4733 || emojiDataVersion != "2.2.0" {
		t.Errorf("%d emoji, version %s; want 4733 from emoji 2.2.0", len(tab.keys), emojiDataVersion)
	}
	if tab.lower[0x130] != "i" || tab.lower[0x212A] != "k" || len(tab.lower) != 2 {
		t.Errorf("lower table %q", tab.lower)
	}
	for _, bad := range []string{"", "garbage"} {
		if _, err := parseEmojiTable([]byte(bad)); err == nil {
			t.Errorf("parseEmojiTable(%q): no error", bad)
		}
	}
}

// TestDemojizeEveryKey: each emoji alone, and followed by characters that
// can never continue an emoji, becomes its name.
func TestDemojizeEveryKey(t *testing.T) {
	tab := table(t)
	for i, k := range tab.keys {
		name := tab.names[i]
		if got := tab.demojize(k); got != name {
			t.Errorf("demojize(%q) = %q, want %q", k, got, name)
		}
		if got := tab.demojize("x" + k + " y"); got != "x"+name+" y" {
			t.Errorf("demojize(x%q y) = %q", k, got)
		}
	}
}

// TestDemojizeGolden compares with Python emoji 2.2.0 on emoji-heavy
// strings (demojize.json, made by training/tokenizer_golden.py).
func TestDemojizeGolden(t *testing.T) {
	checkDemojizeFile(t, filepath.Join(testdata, "demojize.json"), 500)
}

// TestDemojizeBig runs the large case file written by
// `tokenizer_golden.py --big PATH` when TOKENIZER_DEMOJIZE_BIG=PATH is set.
func TestDemojizeBig(t *testing.T) {
	path := os.Getenv("TOKENIZER_DEMOJIZE_BIG")
	if path == "" {
		t.Skip("TOKENIZER_DEMOJIZE_BIG not set")
	}
	checkDemojizeFile(t, path, 100000)
}

func checkDemojizeFile(t *testing.T, path string, minCases int) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases [][2]string
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < minCases {
		t.Fatalf("%s: %d cases, want >= %d", path, len(cases), minCases)
	}
	tab := table(t)
	bad := 0
	for _, c := range cases {
		if got := tab.demojize(c[0]); got != c[1] {
			if bad++; bad <= 20 {
				t.Errorf("demojize(%+q) = %+q, want %+q", c[0], got, c[1])
			}
		}
	}
	t.Logf("%s: %d cases, %d mismatches", path, len(cases), bad)
}

// TestDemojizeQuirks pins emoji 2.2.0's no-backtracking trie walk.
func TestDemojizeQuirks(t *testing.T) {
	tab := table(t)
	for in, want := range map[string]string{
		"❤️":       "red_heart",
		"❤":        "red_heart",
		"❤️‍🔥":     "heart_on_fire",
		"❤️‍x":     "❤\u200dx", // walk stops at "❤️‍" (no emoji): nothing replaced, VS16 dropped
		"👨‍👩":      "\U0001F468\u200dwoman",
		"a\ufe0eb": "ab", // stray variation selectors vanish
		"#":        "#",
		"#️⃣":      "keycap_#",
		"🇺🇸🇺":      "United_States\U0001F1FA",
	} {
		if got := tab.demojize(in); got != want {
			t.Errorf("demojize(%+q) = %+q, want %+q", in, got, want)
		}
	}
	if strings.Contains(tab.demojize("\xf0\x9f\x98"), "grinning") {
		t.Error("truncated UTF-8 matched an emoji")
	}
}
