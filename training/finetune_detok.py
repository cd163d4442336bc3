"""Fine-tune only the VQ detokenizer, keeping the encoder and the codebook fixed.

    /usr/bin/python3 training/finetune_detok.py --vq training/checkpoints/vq_gpu.pt \\
        --run training/runs/detok --minutes 60

With the encoder and codebook frozen every image keeps its token map, so the transformer
trained on those tokens stays valid: only the pictures drawn from the tokens change. The
loss is train_vq.py's (L1 + L2 with object pixels weighted ×5) on images decoded from the
frozen token maps of a fresh pool (--pool scenes, --seed). Checkpoint RUN/vq.pt every
--ckpt-every seconds (resumable); at the end the start and the tuned weights are scored on
the same --eval ground-truth scenes (train_vq.evaluate, seed 777) and RUN/vq_eval.json
records the tuned result; RUN/result.json records both.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default_model as dm  # noqa: E402
import train_vq  # noqa: E402


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vq", required=True, help="starting VQ checkpoint (vq.pt format)")
    ap.add_argument("--run", required=True)
    ap.add_argument("--pool", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=60, help="training time; sets the cosine's length")
    ap.add_argument("--sec-per-step", type=float, default=0.6, help="assumed step time for the schedule")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval", type=int, default=1000)
    ap.add_argument("--ckpt-every", type=float, default=300)
    args = ap.parse_args()
    os.makedirs(args.run, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    path = os.path.join(args.run, "vq.pt")
    start = dm.load_ckpt(args.vq)
    ck = dm.load_ckpt(path) or start
    ae = dm.VQAutoencoder(start["vq_config"], start["vq_encoder"])
    ae.load_state_dict(ck["model"])
    params = [p for p in ae.detok.parameters() if p.requires_grad]   # the codebook is not a trained parameter
    for p in ae.encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.99))
    if ck is not start and ck.get("opt"):
        opt.load_state_dict(ck["opt"])
    step = ck.get("detok_steps", 0)
    total = int(args.minutes * 60 / args.sec_per_step)

    dm.build_pool(os.path.join(args.run, "pool_train"), args.pool, "train", args.seed, log=log)
    imgs, scenes = dm.load_pool(os.path.join(args.run, "pool_train"))
    tok_path = os.path.join(args.run, "tokens.npy")
    if os.path.exists(tok_path):
        toks = np.load(tok_path)
    else:
        ae.eval()
        toks = np.concatenate([ae.encode(dm.to_input(imgs[i:i + 256], "cpu")).numpy().astype(np.int16)
                               for i in range(0, len(imgs), 256)])
        np.save(tok_path + ".tmp.npy", toks)
        os.replace(tok_path + ".tmp.npy", tok_path)
        log("tokens of %d pool images" % len(toks))
    bg_idx = np.array([dm.BG_INDEX[s["background"]] for s in scenes])
    log("detokenizer fine-tune: %d trained parameters, step %d of %d, pool %d" % (
        sum(p.numel() for p in params), step, total, len(imgs)))

    def save(final=False):
        dm.save_ckpt(path, {"model": ae.state_dict(), "opt": opt.state_dict(), "step": start["step"] + step,
                            "detok_steps": step, "vq_config": start["vq_config"], "vq_encoder": start["vq_encoder"],
                            "done": final, "logs": {}, "started_from": os.path.basename(args.vq),
                            "tokens_from_step": start.get("tokens_from_step", start["step"])})

    stopper = dm.Stopper()
    ae.detok.train()
    t_ck, t_log, acc = time.time(), time.time(), 0.0
    while step < total and not stopper.stop:
        rng = np.random.default_rng(args.seed * 7919 + step)
        sel = rng.integers(0, len(imgs), args.batch)
        x = dm.to_input(imgs[sel], "cpu")
        obj = train_vq.object_mask(x, bg_idx[sel], "cpu")
        for g in opt.param_groups:
            g["lr"] = dm.cosine_lr(step, total, args.lr, 50)
        rec = ae.detok(torch.from_numpy(toks[sel].astype(np.int64)))
        loss = dm.vq_rec_loss(rec, x, obj, 4.0)  # train_vq.py's --object-weight 4
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        acc += loss.item()
        if step % 100 == 0:
            log("step %d/%d loss %.5f  %.2f s/step" % (step, total, acc / 100, (time.time() - t_log) / 100))
            acc, t_log = 0.0, time.time()
        if time.time() - t_ck > args.ckpt_every:
            save()
            t_ck = time.time()
    save(final=step >= total)
    if step < total:
        log("stopped at step %d of %d; rerun to resume" % (step, total))
        sys.exit(3)
    tuned = train_vq.evaluate(ae, args.eval, 777, "cpu", args.run)
    base = dm.VQAutoencoder(start["vq_config"], start["vq_encoder"])
    base.load_state_dict(start["model"])
    before = train_vq.evaluate(base, args.eval, 777, "cpu", None)
    with open(os.path.join(args.run, "result.json"), "w") as f:
        json.dump({"start": before, "tuned": tuned, "detok_steps": step}, f, indent=1)
    log("ground truth through tokens, n=%d: start %.1f%%, tuned %.1f%%" % (
        args.eval, 100 * before["attributes"]["all"], 100 * tuned["attributes"]["all"]))


if __name__ == "__main__":
    main()
