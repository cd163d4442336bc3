// Package tokenizer is min-dalle's TextTokenizer: it turns a prompt into the
// BART text token ids the encoder reads, bit-for-bit like the Python
// reference (min_dalle/text_tokenizer.py with emoji 2.2.0).
//
// # Files
//
// vocab.json is a JSON object subword -> id. "<s>" (BOS), "</s>" (EOS) and
// "<unk>" (UNK) are looked up in it (New fails if one is missing); PAD is the
// constant 1, never looked up. merges.txt is split on "\n"; the first element
// (the "#version" header) and the last one (empty after the trailing newline)
// are dropped; each remaining line is split on whitespace into a pair
// (left, right) whose rank is its 0-based index among those lines.
//
// # Algorithm
//
//  1. Demojize: Python emoji 2.2.0's demojize(text, delimiters=("", "")).
//     Scanning left to right, at each character walk the trie of all 4733
//     emoji sequences of emoji.EMOJI_DATA as deep as the next characters
//     allow, without backtracking. If the node reached is an emoji, replace
//     the walked characters by its English name (e.g. "❤️" -> "red_heart",
//     "👍🏽" -> "thumbs_up_medium_skin_tone"); otherwise keep the character.
//     A shorter emoji on the walked path is not matched: in "❤️‍x" the walk
//     reaches "❤️‍" (not an emoji), so "❤" stays a plain character. Unmatched
//     variation selectors U+FE0E and U+FE0F are dropped. The table is
//     embedded (emoji_table.txt.gz, from training/gen_emoji_table.py).
//  2. Python lower(), then encode to ASCII dropping every non-ASCII code
//     point: "WALL·E" -> "walle", "café" -> "caf". Two non-ASCII code points
//     lower to something with ASCII in it and so survive: "İ" (U+0130) ->
//     "i" and the Kelvin sign (U+212A) -> "k". Invalid UTF-8 bytes in a Go
//     string are dropped too.
//  3. Split on the single character ' ' and skip empty strings. Tabs and
//     newlines stay inside words; punctuation and digits stay glued to their
//     word ("hat," is one word).
//  4. For each word, start from the symbols ["Ġ", c1, c2, ...] (Ġ = U+0120
//     stands for the preceding space; the characters are ASCII bytes).
//  5. While there are at least two symbols: among all adjacent pairs take
//     the one with the lowest rank, the leftmost if it occurs several times;
//     stop if no pair has a rank; otherwise merge that one occurrence into a
//     single symbol.
//  6. Map each symbol to its vocab id, UNK if absent (e.g. a raw tab).
//  7. Return [BOS] + ids + [EOS].
//
// Worked example of step 5 with the merges (rank: pair) 0: "a n",
// 1: "Ġ b", 2: "an a", 3: "Ġb an", 4: "n a" and the word "banana"
// (ranks of the adjacent pairs in brackets, - = no rank):
//
//	Ġ b a n a n a    [1 - 0 4 0 4]  merge "a n" (0), leftmost occurrence
//	Ġ b an a n a     [1 - 2 0 4]    merge "a n" (0)
//	Ġ b an an a      [1 - - 2]      merge "Ġ b" (1)
//	Ġb an an a       [3 - 2]        merge "an a" (2)
//	Ġb an ana        [3 -]          merge "Ġb an" (3)
//	Ġban ana         [-]            stop
//
// so "banana" -> ["Ġban", "ana"] (TestBPEWorkedExample). Note that "n a"
// (rank 4) never applies: the lower-ranked merges consume its letters first.
// The code keeps candidate pairs in a heap ordered by (rank, position)
// rather than rescanning, which gives the same merges in O(n log n);
// the tests compare it with a direct rescanning implementation.
//
// # Encoder input
//
// TextRows builds min-dalle's (2, 64) text_tokens array from the ids: cut to
// 64 ids if longer (EOS is lost), both rows filled with PAD = 1, row 0
// (unconditioned) = [ids[0], ids[last]] (normally [BOS, EOS]), row 1
// (conditioned) = the ids.
package tokenizer
