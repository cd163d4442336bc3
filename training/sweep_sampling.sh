#!/usr/bin/env bash
# Choose the default model's sampling defaults by measurement (issue 3): generate and score
# N train-split prompts (seen compositions, the same scenes and seeds for every setting) with the
# embedded model for each (supercondition, top-k, temperature) and print one row per setting,
# best "all" first. The held-out split is left out of the choice (it only reports).
#
#   bash training/sweep_sampling.sh                 # N=60 and the grid below: the shipped model's first pass
#   N=200 SC="1 2 3" TOPK="16 64" TEMP="1" bash training/sweep_sampling.sh
#   CANDIDATES=4 bash training/sweep_sampling.sh    # best of 4 per prompt (default 1: the raw sampler)
#
# Uses `go run ./cmd/tessella eval shapes` (no Python); writes nothing but its table on stdout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N="${N:-60}"
SEED="${SEED:-1001}"
SC="${SC:-1 1.5 2}"
TOPK="${TOPK:-8 32 128}"
TEMP="${TEMP:-0.7 1}"
SPLIT="${SPLIT:-train}"
CANDIDATES="${CANDIDATES:-1}"
bin="$(mktemp -d)/tessella"
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/tessella
echo "| supercondition | top-k | temperature | all | background | colour | count | kind | position | relation | size |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for f in $SC; do for k in $TOPK; do for t in $TEMP; do
    "$bin" eval shapes --split "$SPLIT" --n "$N" --seed "$SEED" --supercondition "$f" --top-k "$k" \
        --temperature "$t" --candidates "$CANDIDATES" --format json --quiet |
    /usr/bin/env python3 -c '
import json, sys
r = json.load(sys.stdin)["scores"]["all scenes"]
f, k, t = sys.argv[1:4]
cells = ["%.1f" % (100.0 * r[a]["right"] / r[a]["total"]) if r.get(a, {}).get("total") else "-"
         for a in ("all", "background", "colour", "count", "kind", "position", "relation", "size")]
print("| %s | %s | %s | %s |" % (f, k, t, " | ".join(cells)))' "$f" "$k" "$t"
done; done; done | sort -t'|' -k5 -g -r
