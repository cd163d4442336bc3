"""Golden outputs of min-dalle's TextTokenizer for the Go tokenizer tests.

Run with the system Python that has emoji 2.2.0:

  /usr/bin/python3 training/tokenizer_golden.py [--min-dalle /work/scratch/min-dalle]
  /usr/bin/python3 training/tokenizer_golden.py --big /tmp/demojize_big.json

Reads testdata/tokenizer/vocab.json and merges.txt (made by make_bpe.py) and
writes
  testdata/tokenizer/golden.json    per case: text, normalized text (demojize,
                                    lower, ASCII), BPE subwords, ids; plus the
                                    two encoder rows for two prompts
  testdata/tokenizer/demojize.json  [input, emoji.demojize(input, ('', ''))]
                                    pairs of emoji-heavy strings
With --big PATH it instead writes a large demojize case file (every emoji
key followed by every component character, every proper prefix of every
key, random strings) for a one-off check:
  TOKENIZER_DEMOJIZE_BIG=PATH go test ./tokenizer/ -run Big

min-dalle itself is imported from its checkout (not part of this project).
"""
import argparse
import json
import os
import random
import sys

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "..", "testdata", "tokenizer")

LONG = ("A highly detailed oil painting of a majestic red dragon, flying over "
        "a medieval castle at sunset; 4k, trending on artstation, by Greg "
        "Rutkowski & Alphonse Mucha (1890s style), with 3 knights, 2 horses, "
        "and 1 tiny cat 🐱 watching from the tower window!!! #epic #fantasy")

CASES = [
    "", " ", "   ", "a", "A", "a red circle", "A Red Circle",
    "ThE QuIcK BrOwN FoX JuMpS", "  leading and trailing  ",
    "double  space   triple", "tab\there", "\t", "new\nline",
    "Hello\r\nWorld", "digits 0123456789 3.14 1,000 2023",
    "hello, world! (yes) [no] {maybe} 'q' \"dq\" #tag @at 100% a&b",
    "a-b a_b a/b a\\b ~`^|<>=+*;:? ...", "WALL·E", "wall·e and EVE",
    "café naïve résumé Ångström", "ÀÉÎÕÜ ß ø Œ æ", "İstanbul İİ",
    "5\u212a degrees \u212aelvin", "ǅungla ＡＢＣ", "nbsp\u00a0here",
    "ideographic\u3000space", "zero\u200bwidth", "€100 £5 ¥3",
    # emoji
    "❤️", "❤", "❤️‍🔥", "❤️‍x", "I ❤️ NY", "👍", "👍🏽", "👍🏽👍🏿",
    "👨‍👩‍👧‍👦", "👨‍👩", "👨‍👩‍", "👩🏿‍🚀", "🧑‍🤝‍🧑", "🏳️‍🌈",
    "🏳️‍⚧️", "🇺🇸", "🇺🇸🇫🇷", "🇺", "🇺🇸🇺", "🇦🇽", "🇨🇼 🇨🇮",
    "#️⃣", "1⃣", "#", "5️⃣ apples", "keycap #1", "*️⃣*",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🏴", "a🍕b", "🍕🍕🍕", "😀😃😄", "☺", "☺️",
    "☺︎", "︎text with VS15", "✌️ peace", "©️ ® ™", "🕐 🕧",
    "🪅", "🫠", "🐱🐶", "👁️‍🗨️", "🫱🏼‍🫲🏾", "🧔‍♀️",
    "a red 🔴 circle on a ⬜ background", "SMILE😀smile",
    LONG,
]


def load_tokenizer(min_dalle):
    sys.path.insert(0, min_dalle)
    from min_dalle.text_tokenizer import TextTokenizer
    with open(os.path.join(TESTDATA, "vocab.json"), "r", encoding="utf8") as f:
        vocab = json.load(f)
    with open(os.path.join(TESTDATA, "merges.txt"), "r", encoding="utf8") as f:
        merges = f.read().split("\n")[1:-1]
    return TextTokenizer(vocab, merges)


def text_rows(tokens, text_token_count=64):
    """min_dalle.py generate_raw_image_stream, the text_tokens array."""
    if len(tokens) > text_token_count:
        tokens = tokens[:text_token_count]
    text_tokens = numpy.ones((2, 64), dtype=numpy.int32)
    text_tokens[0, :2] = [tokens[0], tokens[-1]]
    text_tokens[1, :len(tokens)] = tokens
    return [int(x) for x in text_tokens[0]], [int(x) for x in text_tokens[1]]


def demojize(s):
    from emoji import demojize as d
    return d(s, delimiters=("", ""))


def emoji_pools():
    from emoji.unicode_codes import EMOJI_DATA
    keys = sorted(EMOJI_DATA, key=lambda k: k.encode("utf-8"))
    comps = (["\ufe0f", "\ufe0e", "\u200d", "\u20e3", "x", " ", "#", "1", "A"] +
             [chr(c) for c in range(0x1F3FB, 0x1F400)] +
             [chr(c) for c in (0x1F1E6, 0x1F1F8, 0x1F1FA, 0xE0067, 0xE0062, 0xE007F)])
    chars = sorted({c for k in keys for c in k} | set(comps))
    return keys, comps, chars


def demojize_cases(rng, n_keys, n_random):
    keys, comps, chars = emoji_pools()
    texts = []
    for k in rng.sample(keys, n_keys):
        texts.append(k + rng.choice(comps))
        texts.append(k[:-1] if len(k) > 1 else k + k)
        texts.append(k + rng.choice(keys))
    for _ in range(n_random):
        texts.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 8))))
    return texts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-dalle", default="/work/scratch/min-dalle")
    ap.add_argument("--big", help="write a large demojize case file here instead")
    args = ap.parse_args()
    rng = random.Random(20261128)

    if args.big:
        keys, comps, _ = emoji_pools()
        texts = []
        for k in keys:
            texts += [k + c for c in comps]
            texts += [k[:i] for i in range(1, len(k))]
            texts.append(k + rng.choice(keys) + rng.choice(keys))
        texts += demojize_cases(rng, 2000, 100000)
        with open(args.big, "w", encoding="utf8") as f:
            json.dump([[t, demojize(t)] for t in texts], f, ensure_ascii=False)
        print("wrote %d demojize cases to %s" % (len(texts), args.big))
        return

    tok = load_tokenizer(args.min_dalle)
    cases = []
    for text in CASES:
        norm = demojize(text).lower().encode("ascii", errors="ignore").decode()
        subwords = [s for w in norm.split(" ") if len(w) > 0
                    for s in tok.get_byte_pair_encoding(w, False)]
        ids = tok.tokenize(text)
        cases.append({"text": text, "normalized": norm, "subwords": subwords, "ids": ids})
    rows = []
    for text in [LONG, "a red circle"]:
        ids = tok.tokenize(text)
        uncond, cond = text_rows(ids)
        rows.append({"text": text, "uncond": uncond, "cond": cond})
    if len(tok.tokenize(LONG)) <= 64:
        sys.exit("LONG prompt has only %d tokens, want > 64" % len(tok.tokenize(LONG)))
    with open(os.path.join(TESTDATA, "golden.json"), "w", encoding="utf8") as f:
        json.dump({"cases": cases, "rows": rows}, f, ensure_ascii=False, indent=1)
        f.write("\n")

    texts = demojize_cases(rng, 150, 400)
    with open(os.path.join(TESTDATA, "demojize.json"), "w", encoding="utf8") as f:
        json.dump([[t, demojize(t)] for t in texts], f, ensure_ascii=False, indent=0)
        f.write("\n")
    print("wrote %d tokenizer cases, %d rows, %d demojize cases" %
          (len(cases), len(rows), len(texts)))


if __name__ == "__main__":
    main()
