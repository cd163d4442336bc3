"""Train the default model's text → image-token transformer (stages 3–4 of train_default.sh).

    /usr/bin/python3 training/train_transformer.py --run training/runs/default --steps 20000

1. Tokens: the trained VQ encoder (RUN/vq.pt) maps every image of the pools
   (RUN/pool_train, RUN/pool_heldout) to its 16×16 code grid, raster order, saved as
   RUN/tokens_{train,heldout}.npy (int16). Redone when vq.pt's step differs from the one
   recorded in RUN/tokens_meta.json.
2. Training: min-dalle encoder/decoder (default_model.TextToImage, min-dalle state-dict
   names), teacher forcing: the decoder is fed [BOS, t0 … t254] at positions 0 … 255 and
   predicts t0 … t255 (cross-entropy over all Vi+1 logits). Every time a scene is used a
   fresh caption is drawn with train-time dropout (shapes64.caption(train=True)); 10 % of
   rows get the empty caption [BOS, EOS, PAD…] (supercondition). AdamW, linear warmup then
   cosine to 10 %, gradient clipping 1.0.
3. Validation loss every --val-every steps on up to 256 held-out-split pool images with
   their full captions (RUN/tf_log.csv, RUN/tf_loss.png).

Checkpoint RUN/tf.pt every --ckpt-every seconds, on SIGINT/SIGTERM and at the end; a rerun
resumes from it. The architecture flags only apply to a fresh run.
"""
import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default_model as dm  # noqa: E402
import shapes64  # noqa: E402


def log_print(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def make_tokens(run, device, force=False):
    """Encode the pools with the VQ encoder; returns (train tokens, heldout tokens, vq ckpt)."""
    ck = dm.load_ckpt(os.path.join(run, "vq.pt"))
    if ck is None:
        sys.exit("no VQ checkpoint at %s: run train_vq.py first" % os.path.join(run, "vq.pt"))
    if not ck.get("done"):
        log_print("warning: the VQ checkpoint (step %d) is not finished" % ck["step"])
    meta_path = os.path.join(run, "tokens_meta.json")
    meta = {"vq_step": ck["step"]}
    paths = {s: os.path.join(run, "tokens_%s.npy" % s) for s in ("train", "heldout")}
    if not force and os.path.exists(meta_path) and all(os.path.exists(p) for p in paths.values()):
        with open(meta_path) as f:
            if json.load(f) == meta:
                return np.load(paths["train"]), np.load(paths["heldout"]), ck
    model = dm.VQAutoencoder(ck["vq_config"], ck["vq_encoder"]).to(device)
    model.load_state_dict(ck["model"])
    model.eval()
    out = {}
    for split in ("train", "heldout"):
        imgs, _ = dm.load_pool(os.path.join(run, "pool_" + split))
        t0 = time.time()
        toks = np.empty((len(imgs), 256), np.int16)
        for i in range(0, len(imgs), 128):
            idx = model.encode(dm.to_input(imgs[i:i + 128], device))
            toks[i:i + 128] = idx.view(idx.shape[0], -1).cpu().numpy()
        np.save(paths[split] + ".tmp.npy", toks)
        os.replace(paths[split] + ".tmp.npy", paths[split])
        out[split] = toks
        log_print("tokens %s: %d images in %.0f s, %d distinct codes" % (
            split, len(imgs), time.time() - t0, len(np.unique(toks))))
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    return out["train"], out["heldout"], ck


def cpu_has_bf16():
    """True when /proc/cpuinfo lists AVX512-BF16 or AMX-BF16 (oneDNN's fast bf16 matmuls)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def text_batch(tok, scenes, sel, rng, length, empty_p, train):
    rows = []
    for i in sel:
        if train and rng.random() < empty_p:
            rows.append(tok.empty_row(length))
        else:
            rows.append(tok.row(shapes64.caption(scenes[i], rng, train=train)[0], length))
    return torch.tensor(rows, dtype=torch.long)


def evaluate(args, tok, device):
    """Generate from fresh full captions, decode with the VQ detokenizer, score with shapes64."""
    ck = dm.load_ckpt(os.path.join(args.run, "tf.pt"))
    vq_ck = dm.load_ckpt(os.path.join(args.run, "vq.pt"))
    if ck is None or vq_ck is None:
        sys.exit("need RUN/tf.pt and RUN/vq.pt")
    model = dm.TextToImage(ck["config"]).to(device)
    model.load_state_dict(ck["model"])
    model.eval()
    ae = dm.VQAutoencoder(vq_ck["vq_config"], vq_ck["vq_encoder"]).to(device)
    ae.load_state_dict(vq_ck["model"])
    ae.eval()
    cfg = ck["config"]
    rng = random.Random(args.eval_seed)
    scenes = [shapes64.sample_scene(rng, args.split) for _ in range(args.eval)]
    caps = [shapes64.caption(s) for s in scenes]
    gen = torch.Generator(device=device).manual_seed(args.eval_seed)
    imgs = []
    t0 = time.time()
    for i in range(0, len(caps), 16):
        rows = torch.tensor([tok.row(c[0], cfg["text_len"]) for c in caps[i:i + 16]], device=device)
        toks = dm.generate(model, rows, args.temperature, args.top_k, args.supercondition, gen)
        side = int(round(cfg["image_tokens"] ** 0.5))
        imgs.append(dm.to_uint8(ae.decode(toks.view(-1, side, side))))
    imgs = np.concatenate(imgs)
    summary = dm.score_summary([shapes64.score(img, c[1]) for c, img in zip(caps, imgs)], scenes)
    res = {"n": args.eval, "split": args.split, "step": ck["step"], "supercondition": args.supercondition,
           "top_k": args.top_k, "temperature": args.temperature,
           "attributes": summary["attributes"], "types": summary["types"]}
    log_print("eval %s n=%d step %d (f=%g, top-k %d, T=%g) in %.0f s: all %.1f%%" % (
        args.split, args.eval, ck["step"], args.supercondition, args.top_k, args.temperature,
        time.time() - t0, 100 * res["attributes"]["all"]))
    log_print("  per attribute: " + ", ".join("%s %.1f%%" % (k, 100 * v) for k, v in res["attributes"].items()))
    log_print("  per type ('all'): " + ", ".join("%s %.1f%% (%d)" % (k, 100 * v, summary["type_counts"][k])
                                             for k, v in res["types"].items()))
    with open(os.path.join(args.run, "tf_eval_%s.json" % args.split), "w") as f:
        json.dump(res, f, indent=1)
    from PIL import Image
    m = min(32, len(imgs))
    sheet = np.full((66 * ((m + 7) // 8), 66 * 8, 3), 255, np.uint8)
    for i in range(m):
        r, c = divmod(i, 8)
        sheet[r * 66 + 1:r * 66 + 65, c * 66 + 1:c * 66 + 65] = imgs[i]
    Image.fromarray(sheet).resize((sheet.shape[1] * 2, sheet.shape[0] * 2), Image.NEAREST).save(
        os.path.join(args.run, "tf_eval_%s.png" % args.split))
    with open(os.path.join(args.run, "tf_eval_%s.txt" % args.split), "w") as f:
        f.write("\n".join(c[0] for c in caps[:m]) + "\n")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=os.path.join(dm.HERE, "runs", "default"))
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--empty", type=float, default=0.1, help="fraction of empty captions")
    ap.add_argument("--width", type=int, default=dm.TF_CONFIG["width"])
    ap.add_argument("--heads", type=int, default=dm.TF_CONFIG["heads"])
    ap.add_argument("--glu", type=int, default=dm.TF_CONFIG["glu"])
    ap.add_argument("--layers", type=int, default=dm.TF_CONFIG["encoder_layers"],
                    help="encoder layers = decoder layers")
    ap.add_argument("--text-len", type=int, default=dm.TF_CONFIG["text_len"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"],
                    help="bf16 autocast for the training step (weights and optimizer stay fp32); "
                         "auto: on for a CPU with AVX512-BF16/AMX (4.8x faster per step here), off on GPU")
    ap.add_argument("--ckpt-every", type=float, default=300, help="seconds between checkpoints")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--val-n", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--retokenize", action="store_true", help="re-encode the pools even if cached")
    ap.add_argument("--max-seconds", type=float, default=0, help="stop (with a checkpoint) after this long")
    ap.add_argument("--eval", type=int, default=0,
                    help="only evaluate: generate N images from fresh captions of --split and score them")
    ap.add_argument("--split", default="heldout", choices=["train", "heldout"])
    ap.add_argument("--supercondition", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--eval-seed", type=int, default=777)
    args = ap.parse_args()

    dm.setup_threads(args.threads)
    device = dm.pick_device()
    amp = args.amp == "bf16" or (args.amp == "auto" and str(device) == "cpu" and cpu_has_bf16())
    torch.manual_seed(args.seed)
    tok = dm.Tokenizer(args.run)
    if args.eval:
        evaluate(args, tok, device)
        return
    train_tok, held_tok, vq_ck = make_tokens(args.run, device, args.retokenize)
    _, scenes = dm.load_pool(os.path.join(args.run, "pool_train"))
    _, hscenes = dm.load_pool(os.path.join(args.run, "pool_heldout"))
    codebook = vq_ck["vq_config"]["Codebook"]

    ckpt_path = os.path.join(args.run, "tf.pt")
    ck = dm.load_ckpt(ckpt_path)
    if ck is not None:
        cfg = ck["config"]
    else:
        cfg = dict(dm.TF_CONFIG, text_vocab=len(tok.vocab), text_len=args.text_len, width=args.width,
                   heads=args.heads, glu=args.glu, encoder_layers=args.layers, decoder_layers=args.layers,
                   image_vocab=codebook, image_bos=codebook)
    if cfg["image_vocab"] != codebook or cfg["text_vocab"] != len(tok.vocab):
        sys.exit("checkpoint config %s does not match the VQ codebook %d / vocabulary %d" % (
            cfg, codebook, len(tok.vocab)))
    model = dm.TextToImage(cfg).to(device)
    opt = dm.adamw(model, args.lr, args.wd)
    step, logs = 0, {"step": [], "loss": [], "val_step": [], "val_loss": []}
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, logs = ck["step"], ck["logs"]
        log_print("resumed from %s at step %d" % (ckpt_path, step))
    log_print("transformer %s: %d params, device %s, threads %d, bf16 autocast %s, %d train / %d held-out sequences" % (
        json.dumps(cfg), dm.param_count(model), device, torch.get_num_threads(), amp, len(train_tok), len(held_tok)))

    # fixed validation set: held-out split, full captions
    vrng = random.Random(12345)
    vsel = list(range(min(args.val_n, len(held_tok))))
    vtext = text_batch(tok, hscenes, vsel, vrng, cfg["text_len"], 0, False).to(device)
    vtarget = torch.from_numpy(held_tok[vsel].astype(np.int64)).to(device)

    def shifted(target):
        bos = torch.full((target.shape[0], 1), cfg["image_bos"], dtype=torch.long, device=device)
        return torch.cat([bos, target[:, :-1]], 1)

    def validate():
        model.eval()
        tot = 0.0
        with torch.no_grad():
            for i in range(0, len(vsel), 32):
                t, y = vtext[i:i + 32], vtarget[i:i + 32]
                logits = model(t, shifted(y))
                tot += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                       reduction="sum").item()
        model.train()
        v = tot / (len(vsel) * 256)
        logs["val_step"].append(step)
        logs["val_loss"].append(v)
        log_print("step %d: validation loss %.4f (held-out split, full captions)" % (step, v))
        return v

    def checkpoint(final=False):
        dm.save_ckpt(ckpt_path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                                 "logs": logs, "config": cfg, "args": vars(args), "done": final,
                                 "vq_step": vq_ck["step"]})
        dm.plot_losses(os.path.join(args.run, "tf_loss.png"),
                       {"train": (logs["step"], logs["loss"]),
                        "validation (held-out)": (logs["val_step"], logs["val_loss"])}, "transformer")
        log_print("checkpoint step %d -> %s" % (step, ckpt_path))

    stopper = dm.Stopper()
    csv = open(os.path.join(args.run, "tf_log.csv"), "a")
    t_ckpt = t_start = t_log = time.time()
    acc, acc_n = 0.0, 0
    model.train()
    if step == 0:
        validate()
    while step < args.steps and not stopper.stop:
        rng = random.Random(args.seed * 1000003 + step)
        sel = [rng.randrange(len(train_tok)) for _ in range(args.batch)]
        text = text_batch(tok, scenes, sel, rng, cfg["text_len"], args.empty, True).to(device)
        target = torch.from_numpy(train_tok[sel].astype(np.int64)).to(device)
        lr = dm.cosine_lr(step, args.steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = dm.tf_train_step(model, opt, text, target,
                                torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp))
        step += 1
        acc += loss.item()
        acc_n += 1
        if step % args.log_every == 0 or step == args.steps:
            sps = (time.time() - t_log) / acc_n
            logs["step"].append(step)
            logs["loss"].append(acc / acc_n)
            csv.write("%d,%.5f,%.3g,%.3f\n" % (step, acc / acc_n, lr, sps))
            csv.flush()
            log_print("step %d/%d loss %.4f lr %.2g  %.3f s/step" % (step, args.steps, acc / acc_n, lr, sps))
            acc, acc_n, t_log = 0.0, 0, time.time()
        if step % args.val_every == 0:
            validate()
        if time.time() - t_ckpt > args.ckpt_every:
            checkpoint()
            t_ckpt = time.time()
        if args.max_seconds and time.time() - t_start > args.max_seconds:
            log_print("--max-seconds reached")
            break
    done = step >= args.steps
    if not logs["val_step"] or logs["val_step"][-1] != step:
        validate()
    checkpoint(final=done)
    if not done:
        log_print("stopped at step %d of %d; rerun to resume" % (step, args.steps))
        sys.exit(3)
    log_print("transformer training done (%d steps)" % step)


if __name__ == "__main__":
    main()
