"""Train the default model's VQ autoencoder on shapes64 renders (stage 2 of train_default.sh).

    /usr/bin/python3 training/train_vq.py --run training/runs/default --steps 6000
    /usr/bin/python3 training/train_vq.py --run training/runs/default --eval 400

Encoder 64×64 → 16×16 codes (CodeDim), EMA codebook with dead-code restarts, decoder =
reference_vqgan.Detokenizer(VQ_CONFIG) (loads in the Go engine unchanged). Loss: L1 + L2 on
pixels in [0,1] with object pixels (those differing from the scene's background) weighted
×(1 + --object-weight), plus β·commitment. The data is a fixed pool of rendered scenes
(RUN/pool_train.{npy,json}), built on first use and shared with train_transformer.py.

Checkpoint RUN/vq.pt every --ckpt-every seconds, on SIGINT/SIGTERM and at the end; a
rerun resumes from it (with the same --steps the schedule continues; a finished run only
re-evaluates if asked). Losses go to RUN/vq_log.csv and RUN/vq_loss.png.

--eval N: reconstruct N fresh ground-truth scenes (half train split, half held-out, seed
--eval-seed) through tokens (encoder → nearest code → detokenizer from token ids, the Go
path, clip·255, truncation to uint8), score each against its full caption with
shapes64.score, print per-attribute / per-type accuracy and PSNR, write RUN/vq_eval.json
and a contact sheet RUN/vq_eval.png (ground truth above reconstruction).
"""
import argparse
import json
import os
import random
import sys
import time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default_model as dm  # noqa: E402
import shapes64  # noqa: E402


def log_print(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def object_mask(x, bg_idx, device):
    """dm.object_mask with the backgrounds given as indices into dm.BG_RGB (numpy)."""
    return dm.object_mask(x, torch.from_numpy(dm.BG_RGB[bg_idx]).to(device))


def evaluate(model, n, seed, device, out_dir=None, log=log_print):
    model.eval()
    rng = random.Random(seed)
    scenes = [shapes64.sample_scene(rng, "train" if i % 2 == 0 else "heldout") for i in range(n)]
    gts = np.stack([dm.render_fast(s["background"], s["objects"]) for s in scenes])
    recs = []
    with torch.no_grad():
        for i in range(0, n, 64):
            idx = model.encode(dm.to_input(gts[i:i + 64], device))
            recs.append(dm.to_uint8(model.decode(idx)))
    recs = np.concatenate(recs)
    mse = ((recs.astype(np.float64) - gts.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    psnr = float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10))))
    verdicts = [shapes64.score(r, shapes64.caption(s)[1]) for s, r in zip(scenes, recs)]
    res = {"n": n, "seed": seed, "psnr_db": psnr}
    res.update(dm.score_summary(verdicts, scenes, with_size=True))
    log("eval n=%d: all %.1f%%, PSNR %.2f dB" % (n, 100 * res["attributes"]["all"], psnr))
    log("  per attribute: " + ", ".join("%s %.1f%%" % (k, 100 * v) for k, v in res["attributes"].items()))
    log("  per type/size ('all'): " + ", ".join("%s %.1f%% (%d)" % (k, 100 * v, res["type_counts"][k])
                                              for k, v in res["types"].items()))
    if out_dir:
        with open(os.path.join(out_dir, "vq_eval.json"), "w") as f:
            json.dump(res, f, indent=1)
        from PIL import Image
        m = min(32, n)
        sheet = np.full((2 * 66, m * 66, 3), 255, np.uint8)
        for i in range(m):
            sheet[1:65, i * 66 + 1:i * 66 + 65] = gts[i]
            sheet[67:131, i * 66 + 1:i * 66 + 65] = recs[i]
        Image.fromarray(sheet).resize((sheet.shape[1] * 2, sheet.shape[0] * 2), Image.NEAREST).save(
            os.path.join(out_dir, "vq_eval.png"))
    model.train()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=os.path.join(dm.HERE, "runs", "default"))
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--beta", type=float, default=0.25, help="commitment weight")
    ap.add_argument("--object-weight", type=float, default=4.0)
    ap.add_argument("--restart-every", type=int, default=25, help="steps between dead-code restarts")
    ap.add_argument("--restart-until", type=float, default=0.6, help="no restarts after this fraction of --steps")
    ap.add_argument("--pool", type=int, default=20000, help="training images in the pool")
    ap.add_argument("--heldout-pool", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ckpt-every", type=float, default=180, help="seconds between checkpoints")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--base", type=int, default=dm.VQ_CONFIG["Base"], help="decoder and encoder base channels")
    ap.add_argument("--mult", default=",".join(map(str, dm.VQ_CONFIG["ChannelMult"])),
                    help="channel multipliers per level (3 levels: 16×16 tokens)")
    ap.add_argument("--codebook", type=int, default=dm.VQ_CONFIG["Codebook"])
    ap.add_argument("--code-dim", type=int, default=dm.VQ_CONFIG["CodeDim"])
    ap.add_argument("--eval", type=int, default=0, help="only evaluate N scenes (no training)")
    ap.add_argument("--final-eval", type=int, default=400, help="scenes scored when training ends")
    ap.add_argument("--eval-seed", type=int, default=777)
    ap.add_argument("--max-seconds", type=float, default=0, help="stop (with a checkpoint) after this long")
    args = ap.parse_args()

    os.makedirs(args.run, exist_ok=True)
    dm.setup_threads(args.threads)
    device = dm.pick_device()
    torch.manual_seed(args.seed)
    ckpt_path = os.path.join(args.run, "vq.pt")
    ck = dm.load_ckpt(ckpt_path)
    if ck is not None:  # the checkpoint's architecture wins over the flags
        vq_cfg, enc_cfg = ck["vq_config"], ck["vq_encoder"]
    else:
        mult = [int(m) for m in args.mult.split(",")]
        vq_cfg = dict(dm.VQ_CONFIG, Base=args.base, ChannelMult=mult, Codebook=args.codebook,
                      CodeDim=args.code_dim)
        enc_cfg = dict(dm.VQ_ENCODER, Base=args.base, ChannelMult=mult)
    model = dm.VQAutoencoder(vq_cfg, enc_cfg).to(device)
    if args.eval:
        if ck is None:
            sys.exit("no checkpoint at " + ckpt_path)
        model.load_state_dict(ck["model"])
        log_print("checkpoint step %d" % ck["step"])
        evaluate(model, args.eval, args.eval_seed, device, args.run)
        return

    dm.build_pool(os.path.join(args.run, "pool_train"), args.pool, "train", args.seed, log=log_print)
    dm.build_pool(os.path.join(args.run, "pool_heldout"), args.heldout_pool, "heldout", args.seed + 1,
                  log=log_print)
    imgs, scenes = dm.load_pool(os.path.join(args.run, "pool_train"))
    bg_idx = np.array([dm.BG_INDEX[s["background"]] for s in scenes])
    himgs, hscenes = dm.load_pool(os.path.join(args.run, "pool_heldout"))
    hbg = np.array([dm.BG_INDEX[s["background"]] for s in hscenes])

    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                           betas=(0.9, 0.99))
    step, logs = 0, {"step": [], "rec": [], "commit": [], "val_rec": [], "val_step": []}
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, logs = ck["step"], ck["logs"]
        log_print("resumed from %s at step %d" % (ckpt_path, step))
    start_step = step
    n_enc = dm.param_count(model.encoder)
    n_dec = sum(p.numel() for p in model.detok.parameters())
    log_print("VQ: encoder %d params, detokenizer %d params (incl. codebook), device %s, threads %d, "
              "pool %d" % (n_enc, n_dec, device, torch.get_num_threads(), len(imgs)))

    stopper = dm.Stopper()
    t_ckpt = t_start = time.time()
    acc = defaultdict(float)
    acc_n = 0
    t_log = time.time()

    def checkpoint(final=False):
        # validation reconstruction loss on 256 held-out pool images
        model.eval()
        with torch.no_grad():
            tot, used = 0.0, set()
            for i in range(0, min(256, len(himgs)), 64):
                x = dm.to_input(himgs[i:i + 64], device)
                idx = model.encode(x)
                used |= set(idx.view(-1).tolist())
                tot += F.mse_loss(model.decode(idx).clamp(0, 1), x, reduction="sum").item()
            mse = tot / (min(256, len(himgs)) * 3 * 64 * 64)
        model.train()
        logs["val_step"].append(step)
        logs["val_rec"].append(mse)
        dm.save_ckpt(ckpt_path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                                 "logs": logs, "args": vars(args), "vq_config": vq_cfg,
                                 "vq_encoder": enc_cfg, "done": final})
        dm.plot_losses(os.path.join(args.run, "vq_loss.png"),
                       {"train rec": (logs["step"], logs["rec"]),
                        "val mse (held-out pool)": (logs["val_step"], logs["val_rec"])}, "VQ autoencoder")
        log_print("checkpoint step %d: val mse %.5f (PSNR %.2f dB), codes used by 256 held-out "
                  "images %d/%d" % (step, mse, 10 * np.log10(1 / max(mse, 1e-12)), len(used),
                                    model.vq["Codebook"]))

    model.train()
    csv = open(os.path.join(args.run, "vq_log.csv"), "a")
    while step < args.steps and not stopper.stop:
        rng = np.random.default_rng(args.seed * 7919 + step)
        sel = rng.integers(0, len(imgs), args.batch)
        x = dm.to_input(imgs[sel], device)
        obj = object_mask(x, bg_idx[sel], device)
        lr = dm.cosine_lr(step, args.steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        rec, commit, idx, flat = model(x)
        l_rec = dm.vq_rec_loss(rec, x, obj, args.object_weight)
        loss = l_rec + args.beta * commit
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        restarted = 0
        if args.restart_every and step % args.restart_every == args.restart_every - 1 and \
                step < args.restart_until * args.steps:
            restarted = model.restart_dead(flat.detach())
        step += 1
        acc["rec"] += l_rec.item()
        acc["commit"] += commit.item()
        acc["restarted"] += restarted
        acc_n += 1
        if step % args.log_every == 0 or step == args.steps:
            counts = torch.bincount(idx.view(-1), minlength=model.vq["Codebook"]).float()
            p = counts / counts.sum()
            ppl = torch.exp(-(p[p > 0] * p[p > 0].log()).sum()).item()
            sps = (time.time() - t_log) / acc_n
            logs["step"].append(step)
            logs["rec"].append(acc["rec"] / acc_n)
            logs["commit"].append(acc["commit"] / acc_n)
            line = "%d,%.5f,%.5f,%.1f,%d,%.3g,%.3f" % (step, acc["rec"] / acc_n, acc["commit"] / acc_n, ppl,
                                                     int(acc["restarted"]), lr, sps)
            csv.write(line + "\n")
            csv.flush()
            log_print("step %d/%d rec %.4f commit %.4f batch-perplexity %.0f restarted %d lr %.2g  %.3f s/step" % (
                step, args.steps, acc["rec"] / acc_n, acc["commit"] / acc_n, ppl, acc["restarted"], lr, sps))
            acc.clear()
            acc_n = 0
            t_log = time.time()
        if time.time() - t_ckpt > args.ckpt_every:
            checkpoint()
            t_ckpt = time.time()
        if args.max_seconds and time.time() - t_start > args.max_seconds:
            log_print("--max-seconds reached")
            break
    done = step >= args.steps
    checkpoint(final=done)
    if not done:
        log_print("stopped at step %d of %d; rerun to resume" % (step, args.steps))
        sys.exit(3)
    if ck is None or not ck.get("done") or step > start_step:
        if args.final_eval:
            evaluate(model, args.final_eval, args.eval_seed, device, args.run)
    log_print("VQ training done (%d steps)" % step)


if __name__ == "__main__":
    main()
