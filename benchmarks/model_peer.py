"""The PyTorch side of `tessella bench model`: one DALL·E Mini-shaped image with random weights,
run by the project's PyTorch references (training/reference_model.py, training/reference_vqgan.py,
whose outputs equal min-dalle's modules bit for bit), timed like the Go side: encoder, median
seconds per image token, VQGAN, peak RSS.

    /usr/bin/python3 benchmarks/model_peer.py [--threads 1] [--model mini]

The weights are random values of the published shapes (different values from the Go run's:
timing does not depend on them). The reference recomputes cross-attention K/V every step and
attends over all 256 cache slots, as min-dalle does.
"""
import argparse
import os
import resource
import statistics
import sys
import time

# torch.set_num_threads does not bound OpenBLAS's own pool: set the thread
# count in the environment before torch (and so OpenBLAS) is loaded.
_threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
os.environ["OPENBLAS_NUM_THREADS"] = _threads
os.environ["OMP_NUM_THREADS"] = _threads

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "training"))
import reference_model as rm  # noqa: E402
import reference_vqgan as rv  # noqa: E402

SHAPES = {
    "mini": dict(text_vocab=50264, text_len=64, text_pad=1, width=1024, heads=16, glu=2730,
                 encoder_layers=12, decoder_layers=12, image_vocab=16384, image_tokens=256,
                 image_bos=16383, layer_norm_eps=1e-5, codebook=16384),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="mini", choices=sorted(SHAPES))
    ap.add_argument("--steps", type=int, default=256, help="decoder steps to time (the median needs a few)")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(args.threads)
    cfg = SHAPES[args.model]
    t = time.time()
    enc, dec = rm.random_weights(cfg, seed=1)
    load = time.time() - t
    text = torch.ones(2, 64, dtype=torch.long)
    text[0, :2] = torch.tensor([0, 2])
    text[1, :8] = torch.tensor([0, 10, 20, 30, 40, 50, 60, 2])
    t = time.time()
    state = rm.encode(enc, cfg, text)
    enc_s = time.time() - t
    run = rm.DecoderRun(dec, cfg, state, text, 1)
    torch.manual_seed(1)
    prev = torch.full((1,), cfg["image_bos"], dtype=torch.long)
    steps, toks = [], []
    t0 = time.time()
    for i in range(args.steps):
        s = time.time()
        logits = run.step(prev, i)
        prev = rm.sample_torch(logits, 1, cfg["codebook"], 1.0, 256, 16.0)
        toks.append(prev)
        steps.append(time.time() - s)
    decode = time.time() - t0
    del enc, dec, run
    vq = rv.Detokenizer(rv.MIN_DALLE).eval()
    tokens = torch.randint(0, 16384, (1, 16, 16))
    t = time.time()
    vq(tokens)
    vq_s = time.time() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| model | threads | load s | encoder s | s / image token (median) | decode s | VQGAN s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| pytorch-{args.model} ({args.steps} steps) | {args.threads} | {load:.2f} | {enc_s:.3f} | "
          f"{statistics.median(steps[1:]):.4f} | {decode:.2f} | {vq_s:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
