"""Generate tokenizer/emoji_table.txt.gz from the Python `emoji` package (2.2.0).

min-dalle's tokenizer first calls emoji.demojize(text, delimiters=('', '')).
In emoji 2.2.0 demojize walks a character trie built from every key of
emoji.EMOJI_DATA (greedy, no backtracking, see tokenizer/demojize.go) and
replaces a matched key by its English name without the surrounding colons.
This script dumps that table, sorted by key (UTF-8 byte order, which equals
code point order), plus the few non-ASCII code points whose Python
str.lower() contains ASCII characters (they survive the tokenizer's
"lower, then drop non-ASCII" step).

Usage: /usr/bin/python3 training/gen_emoji_table.py [out.txt.gz]
(default out: tokenizer/emoji_table.txt.gz next to this script's parent dir).
The script also checks that demojize(key) == name for every key.
"""
import gzip
import os
import sys

import emoji
from emoji.unicode_codes import EMOJI_DATA


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, '..', 'tokenizer', 'emoji_table.txt.gz')
    if emoji.__version__ != '2.2.0':
        sys.exit('need emoji 2.2.0, have %s' % emoji.__version__)

    entries = []
    for key, data in EMOJI_DATA.items():
        name = data['en']
        if not (name.startswith(':') and name.endswith(':')):
            sys.exit('unexpected name %r for %r' % (name, key))
        entries.append((key, name[1:-1]))
    entries.sort(key=lambda e: e[0].encode('utf-8'))

    # Self-check: each key alone demojizes to its name.
    for key, name in entries:
        got = emoji.demojize(key, delimiters=('', ''))
        if got != name:
            sys.exit('demojize(%r) = %r, want %r' % (key, got, name))

    # Non-ASCII code points whose lower() keeps ASCII characters.
    lower_ascii = []
    for c in range(0x80, 0x110000):
        if 0xD800 <= c < 0xE000:
            continue
        kept = ''.join(x for x in chr(c).lower() if ord(x) < 0x80)
        if kept:
            lower_ascii.append((c, kept))
    # ASCII itself must lower exactly as A-Z -> a-z.
    for c in range(0x80):
        want = chr(c + 32) if 0x41 <= c <= 0x5A else chr(c)
        if chr(c).lower() != want:
            sys.exit('unexpected ASCII lower for %d' % c)

    lines = ['#tessella emoji table v1: emoji %s, python %d.%d' %
             ((emoji.__version__,) + tuple(sys.version_info[:2]))]
    for c, kept in lower_ascii:
        lines.append('l\t%04X\t%s' % (c, kept))
    for key, name in entries:
        if '\t' in key + name or '\n' in key + name:
            sys.exit('tab or newline in %r %r' % (key, name))
        lines.append('e\t%s\t%s' % (key, name))
    data = ('\n'.join(lines) + '\n').encode('utf-8')
    # mtime=0 and a fixed level keep the output byte-for-byte reproducible.
    with open(out_path, 'wb') as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))
    print('wrote %s: %d emoji, %d lower->ASCII code points, %d bytes raw, %d gzipped' %
          (out_path, len(entries), len(lower_ascii), len(data), os.path.getsize(out_path)))


if __name__ == '__main__':
    main()
