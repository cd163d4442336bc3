#!/bin/bash
# Go and the PyTorch reference on DALL·E Mini-shaped random weights, one
# after the other in one script, so that their ratio comes from one run
# (benchmarks/README.md, "Session 4"). Nothing is downloaded.
#
#   benchmarks/side_by_side.sh                 # build tessella, then run everything
#   TESSELLA=/path/to/tessella OLD=/path/to/older/tessella benchmarks/side_by_side.sh
#
# OLD, if set, is a second build run alternately with the first (before/after).
# Needs /usr/bin/python3 with torch (Debian's python3-torch) for the peer.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TESSELLA:-}" ]; then
	TESSELLA="$(mktemp -d)/tessella"
	go build -o "$TESSELLA" ./cmd/tessella
fi
run() { # name binary dtype threads
	echo -n "$1 $3 threads=$4: "
	"$2" bench model --model mini-random --threads "$4" --dtype "$3" --format json
}
date; uptime
for pass in 1 2; do
	for d in f32 q8; do
		run new "$TESSELLA" $d 2
		if [ -n "${OLD:-}" ]; then run old "$OLD" $d 2; fi
	done
	if [ $pass = 1 ]; then
		run new "$TESSELLA" f32 1
		run new "$TESSELLA" q8 1
		for t in 1 2; do
			echo "pytorch threads=$t:"
			/usr/bin/python3 benchmarks/model_peer.py --threads $t | tail -1
		done
	fi
done
date; uptime
