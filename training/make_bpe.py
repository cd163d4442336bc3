"""Train a small BPE vocabulary in min-dalle's tokenizer format.

Writes OUT/vocab.json and OUT/merges.txt that tessella's tokenizer package (and
min-dalle's TextTokenizer) load:

  vocab.json   {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, then the base
               symbols (sorted), then one entry per merge result, in merge order}
  merges.txt   "#version: 0.2", then one "left right" pair per line (rank =
               line index), then a trailing newline (min-dalle drops the first
               and the last "\\n"-separated element).

The corpus is read as prompts, one per line, and each prompt is turned into
words exactly as min-dalle's tokenizer does (emoji.demojize with empty
delimiters if the emoji package is importable, lower(), drop non-ASCII, split
on " ", skip empty words). A word's initial symbols are "Ġ" (U+0120) followed
by its characters. Training is plain BPE: repeatedly merge the most frequent
adjacent pair (ties: the lexicographically smallest pair) at all its
non-overlapping occurrences, left to right, until --merges merges are made,
--vocab-size is reached, or no pair occurs --min-count times.

Examples:
  python3 training/make_bpe.py --corpus captions.txt --out weights/tiny --merges 400
  python3 training/make_bpe.py --corpus a.txt --corpus b.txt --out d \\
      --vocab-size 300 --ascii-alphabet
"""
import argparse
import collections
import json
import os
import sys

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
G = chr(ord(" ") + 256)  # "Ġ"


def normalize(text, use_emoji=True):
    if use_emoji:
        try:
            from emoji import demojize
            text = demojize(text, delimiters=("", ""))
        except ImportError:
            sys.exit("the emoji package is needed (or pass --no-emoji)")
    return text.lower().encode("ascii", errors="ignore").decode()


def read_words(paths, use_emoji):
    counts = collections.Counter()
    for path in paths:
        with open(path, "r", encoding="utf8") as f:
            for line in f.read().split("\n"):
                for word in normalize(line, use_emoji).split(" "):
                    if word:
                        counts[word] += 1
    return counts


def merge_word(symbols, a, b):
    out = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def train(word_counts, max_merges, max_vocab, min_count, extra_alphabet):
    words = {tuple([G] + list(w)): c for w, c in word_counts.items()}
    alphabet = {G} | set(extra_alphabet)
    for w in words:
        alphabet.update(w)
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for s in sorted(alphabet):
        vocab.setdefault(s, len(vocab))
    merges = []
    while len(merges) < max_merges and len(vocab) < max_vocab:
        pairs = collections.Counter()
        for w, c in words.items():
            for p in zip(w[:-1], w[1:]):
                # merges.txt is split on whitespace: such pairs cannot be written.
                if not any(ch.isspace() for ch in p[0] + p[1]):
                    pairs[p] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if best[1] < min_count:
            break
        a, b = best[0]
        merges.append((a, b))
        vocab.setdefault(a + b, len(vocab))
        new_words = collections.Counter()
        for w, c in words.items():
            new_words[merge_word(w, a, b)] += c
        words = new_words
    return vocab, merges


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", action="append", required=True,
                    help="text file, one prompt per line (repeatable)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--merges", type=int, default=1 << 30,
                    help="maximum number of merges")
    ap.add_argument("--vocab-size", type=int, default=1 << 30,
                    help="stop when the vocabulary has this many entries")
    ap.add_argument("--min-count", type=int, default=1,
                    help="stop when the best pair occurs fewer times")
    ap.add_argument("--ascii-alphabet", action="store_true",
                    help="add every printable ASCII character (33..126) to the base symbols")
    ap.add_argument("--no-emoji", action="store_true",
                    help="do not demojize the corpus")
    args = ap.parse_args()

    counts = read_words(args.corpus, not args.no_emoji)
    if not counts:
        sys.exit("empty corpus")
    extra = [chr(c) for c in range(33, 127)] if args.ascii_alphabet else []
    vocab, merges = train(counts, args.merges, args.vocab_size,
                          args.min_count, extra)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "vocab.json"), "w", encoding="utf8") as f:
        json.dump(vocab, f, ensure_ascii=False, indent=0)
        f.write("\n")
    with open(os.path.join(args.out, "merges.txt"), "w", encoding="utf8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write("%s %s\n" % (a, b))
    print("%d words (%d distinct), %d merges, vocab %d -> %s" % (
        sum(counts.values()), len(counts), len(merges), len(vocab), args.out))


if __name__ == "__main__":
    main()
