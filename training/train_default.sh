#!/usr/bin/env bash
# Reproduce tessella's embedded default model from nothing (issue 3):
#   tokenizer → VQ autoencoder → image tokens → transformer → export.
#
#   bash training/train_default.sh                      # everything, resumable
#   VQ_STEPS=800 TF_STEPS=0 bash training/train_default.sh   # only tokenizer + VQ
#
# Every stage resumes from its checkpoint in $RUN, so rerunning after an interruption
# (Ctrl-C, kill, reboot) continues where it stopped; a finished stage is skipped (it only
# re-validates its checkpoint). A stage stopped early exits with status 3 and this script
# stops there. Uses the GPU when torch.cuda.is_available(), else the CPU with $THREADS
# torch threads (1 measured fastest on this 2-core machine while other processes run:
# a VQ step took 3.4 s with 1 thread, 14 s with 2).
#
# Variables (environment overrides):
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PY:-/usr/bin/python3}"             # needs torch 1.13, numpy, PIL, matplotlib, emoji
RUN="${RUN:-$HERE/runs/default}"         # checkpoints, caches, logs (gitignored)
THREADS="${THREADS:-1}"                  # torch CPU threads for the VQ stage
TF_THREADS="${TF_THREADS:-2}"            # torch CPU threads for the transformer (bf16 autocast: 2 beat 1 by 1.5x)
POOL="${POOL:-20000}"                    # rendered training scenes (cached, shared by both stages)
HELDOUT_POOL="${HELDOUT_POOL:-1000}"     # held-out-split scenes (validation)
VQ_STEPS="${VQ_STEPS:-5000}"             # VQ autoencoder steps (the shipped model: 5000)
VQ_BATCH="${VQ_BATCH:-32}"
VQ_EVAL="${VQ_EVAL:-400}"                # ground-truth reconstructions scored at the end of the VQ stage
TF_STEPS="${TF_STEPS:-5200}"             # transformer steps (0: stop after the VQ stage; shipped: 5200)
TF_BATCH="${TF_BATCH:-32}"
TF_LR="${TF_LR:-7e-4}"
OUT="${OUT:-$RUN/default.safetensors}"   # exported model
GOLDEN="${GOLDEN:-$HERE/../testdata/golden/default_model.safetensors}"
# Sampling defaults written into the file (chosen for the shipped model by training/sweep_sampling.sh;
# rerun the sweep for a new model and export again with its choice).
SUPERCONDITION="${SUPERCONDITION:-1.5}"
TOP_K="${TOP_K:-8}"
TEMPERATURE="${TEMPERATURE:-0.7}"

# Debian's OpenBLAS 0.3.21 takes this CPU for a "Prescott" (SSE3) and PyTorch's fp32 matmuls run
# at half speed (measured: 3.07 vs 1.54 s per transformer step); name the AVX-512 kernels when
# the CPU has them and the caller has not chosen. One BLAS thread: torch's own threads split the work.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]] && grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    export OPENBLAS_CORETYPE=SkylakeX
fi
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

mkdir -p "$RUN"
exec 9>"$RUN/.lock"
if ! flock -n 9; then
    echo "another train_default.sh is using $RUN ($RUN/.lock)" >&2
    exit 1
fi
stage() { echo; echo "=== $(date -u +%H:%M:%S) $*"; }

stage "1/5 tokenizer -> $RUN/vocab.json, merges.txt"
if [[ ! -s "$RUN/vocab.json" || ! -s "$RUN/merges.txt" ]]; then
    "$PY" -c "import sys; sys.path.insert(0, '$HERE'); import default_model as dm; dm.write_corpus('$RUN/corpus.txt')"
    "$PY" "$HERE/make_bpe.py" --corpus "$RUN/corpus.txt" --out "$RUN"
fi
"$PY" -c "
import sys; sys.path.insert(0, '$HERE'); import default_model as dm
t = dm.Tokenizer('$RUN')
bad = [w for w in dm.caption_words() if len(t.tokenize(w)) != 3]
assert not bad, 'caption words that are not one token: %s' % bad
print('%d caption words, each one token; vocabulary %d' % (len(dm.caption_words()), len(t.vocab)))"

stage "2/5 VQ autoencoder ($VQ_STEPS steps, batch $VQ_BATCH)"
"$PY" "$HERE/train_vq.py" --run "$RUN" --steps "$VQ_STEPS" --batch "$VQ_BATCH" --pool "$POOL" \
    --heldout-pool "$HELDOUT_POOL" --threads "$THREADS" --final-eval "$VQ_EVAL"

if [[ "$TF_STEPS" -le 0 ]]; then
    stage "TF_STEPS=$TF_STEPS: stopping after the VQ stage"
    exit 0
fi

stage "3-4/5 image tokens + transformer ($TF_STEPS steps, batch $TF_BATCH)"
"$PY" "$HERE/train_transformer.py" --run "$RUN" --steps "$TF_STEPS" --batch "$TF_BATCH" --lr "$TF_LR" \
    --threads "$TF_THREADS"

stage "5/5 export -> $OUT, goldens -> $GOLDEN"
"$PY" "$HERE/export_default.py" --run "$RUN" --out "$OUT" --golden "$GOLDEN" \
    --supercondition "$SUPERCONDITION" --top-k "$TOP_K" --temperature "$TEMPERATURE"
stage "done"
