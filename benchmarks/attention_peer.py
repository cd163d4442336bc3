#!/usr/bin/python3
"""Times PyTorch's math attention on the Go benchmark's attention shapes.

For each shape and thread count it times

    S = torch.baddbmm(bias, Q, Kᵀ, beta=1, alpha=1/√d)   # (B·H, Nq, Nk)
    P = torch.softmax(S, -1)
    O = torch.bmm(P, V)                                   # (B·H, Nq, d)

on contiguous (B·H, N, d) float32 tensors (no layout transposes are timed),
with bias = 0, or −1e12 on future keys for causal shapes (min-dalle's
additive mask). Each thread count runs in a fresh subprocess with
torch.set_num_threads(t) and OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=t, after
one warm-up call, for at least --min-time seconds in samples of back-to-back
calls. It prints CSV that `AttentionOptions.Peer` reads:

    peer,shape,threads,mean_s,sd_s,gflops

Shape names are the Go side's (benchmarks/attention_shapes.go):
<mini|mega>-<encoder|self256|cross256|cross1|decode<t>> with batch 2·grid²,
and sweep-N<n>-d<d>[-causal] (batch 1, one head).

Usage:
    /usr/bin/python3 benchmarks/attention_peer.py --shapes mini-encoder,sweep-N1024-d64 \
        --threads 1,2 > /tmp/peer.csv
"""
import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import time

MODELS = {"mini": (1024, 16), "mega": (2048, 32)}


def parse_shape(name, grid):
    """Returns (batch, heads, q_len, kv_len, head_dim, causal)."""
    m = re.fullmatch(r"sweep-N(\d+)-d(\d+)(-causal)?", name)
    if m:
        n, d = int(m.group(1)), int(m.group(2))
        return 1, 1, n, n, d, bool(m.group(3))
    m = re.fullmatch(r"(mini|mega)-(encoder|self256|cross256|cross1|decode(\d+))", name)
    if not m:
        raise ValueError(f"unknown attention shape {name!r}")
    e, h = MODELS[m.group(1)]
    b, kind = 2 * grid * grid, m.group(2)
    if kind == "encoder":
        return b, h, 64, 64, e // h, False
    if kind == "self256":
        return b, h, 256, 256, e // h, True
    if kind == "cross256":
        return b, h, 256, 64, e // h, False
    if kind == "cross1":
        return b, h, 1, 64, e // h, False
    return b, h, 1, int(m.group(3)), e // h, False


def worker(shapes, threads, grid, min_time):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for name in shapes:
        b, h, nq, nk, d, causal = parse_shape(name, grid)
        q = torch.randn(b * h, nq, d)
        k = torch.randn(b * h, nk, d)
        v = torch.randn(b * h, nk, d)
        bias = torch.zeros(1, nq, nk)
        if causal:
            off = nk - nq
            future = torch.arange(nk)[None, :] > (torch.arange(nq)[:, None] + off)
            bias = (future.float() * -1e12)[None]
        bias = bias.expand(b * h, nq, nk)
        scale = 1 / math.sqrt(d)

        def call():
            s = torch.baddbmm(bias, q, k.transpose(1, 2), beta=1, alpha=scale)
            p = torch.softmax(s, -1)
            return torch.bmm(p, v)

        with torch.no_grad():
            t0 = time.perf_counter()
            call()
            first = time.perf_counter() - t0
            per = max(1, int(min_time / 10 / max(first, 1e-9)))
            samples = []
            start = time.perf_counter()
            while len(samples) < 3 or (time.perf_counter() - start < min_time and len(samples) < 100):
                ts = time.perf_counter()
                for _ in range(per):
                    call()
                samples.append((time.perf_counter() - ts) / per)
        mean = statistics.fmean(samples)
        sd = statistics.stdev(samples) if len(samples) > 1 else 0.0
        flop = 4.0 * b * h * nq * nk * d / (2 if causal else 1)
        print(f"torch-{torch.__version__},{name},{threads},{mean:.6g},{sd:.6g},{flop / mean / 1e9:.6g}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default="mini-encoder,mini-self256,mini-cross256,mega-decode256,sweep-N1024-d64,sweep-N4096-d64")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--grid", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    shapes = [s for s in args.shapes.split(",") if s]
    for s in shapes:
        parse_shape(s, args.grid)  # fail early on a bad name
    if args.worker:
        worker(shapes, args.worker, args.grid, args.min_time)
        return
    print("peer,shape,threads,mean_s,sd_s,gflops", flush=True)
    for t in [int(x) for x in args.threads.split(",")]:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
        cmd = [sys.executable, __file__, "--worker", str(t), "--shapes", ",".join(shapes),
               "--grid", str(args.grid), "--min-time", str(args.min_time)]
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
