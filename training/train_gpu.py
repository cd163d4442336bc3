"""Train the default model in one sitting on a GPU, against a wall-clock budget.

    python3 training/train_gpu.py --run RUN --seconds 540 --out OUTDIR

The CPU recipe (train_default.sh) renders a fixed pool of 20,000 scenes and draws a fresh
caption in Python at every step; on a GPU both would starve the device. This script does the
same stages with the data work moved off the training loop:

1. Pool: worker processes (all CPUs but two) render shapes64 train-split scenes in chunks of
   --chunk, each with --captions train-time captions (shapes64.caption(train=True), tokenized
   to encoder rows) and its full caption; the chunks stream in while the VQ stage runs, and
   training draws from the chunks received so far. A held-out-split pool of --heldout scenes
   gives the validation sets.
2. VQ: fine-tunes RUN/vq.pt (the committed CPU checkpoint, train_vq.py's model and loss) for
   --vq-seconds at batch --vq-batch, cosine from --vq-lr; then scores ground truth rebuilt
   through tokens (as train_vq.evaluate, --vq-eval scenes, seed 777, half per split) for the
   starting and the fine-tuned weights and keeps whichever scores higher on "all".
3. Tokens: every pool image through the chosen VQ encoder (on the GPU, as chunks arrive).
4. Transformer: default_model.TextToImage from scratch (train_transformer.py's loss, 10 % empty
   captions, AdamW, warmup then cosine to 10 %); the number of steps is set from the measured
   speed of the first steps so that the cosine ends at the budget. bf16 autocast on CUDA; the
   attention runs through F.scaled_dot_product_attention when torch has it and it matches the
   plain attention on a test batch (else the plain one).
5. Sampling sweep: generates for --sweep-n train-split captions per (supercondition, top-k,
   temperature) setting with default_model.generate and scores them (shapes64.score); then
   the best setting on --final-n captions of each split.

Outputs (OUTDIR, each ≤ 16 MiB so that a remote machine's file limits let them back):
vq_model.safetensors (the chosen VQ autoencoder's state dict, config in the metadata),
tf_part{0,1,2}.safetensors (the transformer's fp32 state dict in three parts, config, step and
losses in the metadata), results.json (every measurement), written again at each
checkpoint (--ckpt-every seconds) so that a run cut short still leaves its latest state.
training/import_gpu_run.py turns them into RUN/vq.pt and RUN/tf.pt for export_default.py. The
held-out pool is also saved as RUN/pool_heldout.{npy,json} (train_vq.py's format) when RUN has none.
"""
import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import default_model as dm  # noqa: E402
import shapes64  # noqa: E402
import st  # noqa: E402

T0 = time.time()


def log(*a):
    print("%7.1fs" % (time.time() - T0), *a, flush=True)


# ---------------------------------------------------------------------------------------
# Worker-process jobs (fork: they inherit the modules; no CUDA before the pool starts)

_TOK = {}


def _tokenizer(run):
    if run not in _TOK:
        _TOK[run] = dm.Tokenizer(run)
    return _TOK[run]


def render_chunk(job):
    """(split, seed, chunk, n, captions, text_len, run) → chunk, images (n,64,64,3) u8,
    train-time caption rows (n,captions,T) i16, full-caption rows (n,T) i16, scenes."""
    split, seed, c, n, k, tlen, run = job
    tok = _tokenizer(run)
    rng = random.Random(seed * 1000003 + c)
    imgs = np.empty((n, 64, 64, 3), np.uint8)
    rows = np.empty((n, k, tlen), np.int16)
    full = np.empty((n, tlen), np.int16)
    scenes = []
    for i in range(n):
        sc = shapes64.sample_scene(rng, split)
        imgs[i] = dm.render_fast(sc["background"], sc["objects"])
        for j in range(k):
            rows[i, j] = tok.row(shapes64.caption(sc, rng, train=True)[0], tlen)
        full[i] = tok.row(shapes64.caption(sc)[0], tlen)
        scenes.append(sc)
    return c, imgs, rows, full, scenes


def render_scene(sc):
    return dm.render_fast(sc["background"], sc["objects"])


def score_one(args):
    img, asserted = args
    return shapes64.score(img, asserted)


class Pool:
    """Chunks of rendered scenes arriving from the workers."""

    def __init__(self, workers, split, seed, n, chunk, k, tlen, run):
        self.pending = [workers.apply_async(render_chunk, ((split, seed, c, min(chunk, n - s), k, tlen, run),))
                        for c, s in enumerate(range(0, n, chunk))]
        self.chunks = {}

    def poll(self, wait=False):
        """Collect finished chunks; returns the list of newly received chunk ids."""
        new = []
        for r in list(self.pending):
            if wait or r.ready():
                c, imgs, rows, full, scenes = r.get()
                self.chunks[c] = dict(imgs=imgs, rows=rows, full=full, scenes=scenes)
                self.pending.remove(r)
                new.append(c)
        return new

    def done(self):
        return not self.pending


# ---------------------------------------------------------------------------------------
# Attention through scaled_dot_product_attention (same math; causal when the bias is 2-D)

_plain_attention = dm.Attention.forward


def _sdpa_attention(self, x, kv, bias):
    b, nq, e = x.shape
    nk, h = kv.shape[1], self.heads
    d = e // h
    q = self.q_proj(x).view(b, nq, h, d).transpose(1, 2)
    k = self.k_proj(kv).view(b, nk, h, d).transpose(1, 2)
    v = self.v_proj(kv).view(b, nk, h, d).transpose(1, 2)
    if torch.is_tensor(bias) and bias.dim() == 2:      # Decoder's (n,n) causal mask
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
    return self.out_proj(o.transpose(1, 2).reshape(b, nq, e))


def use_sdpa_if_equal(cfg, device):
    """Switch dm.Attention to SDPA when it exists and matches the plain forward (fp32)."""
    if not hasattr(F, "scaled_dot_product_attention"):
        return False
    try:
        torch.manual_seed(0)
        m = dm.TextToImage(dict(cfg, encoder_layers=1, decoder_layers=1)).to(device).eval()
        text = torch.randint(3, cfg["text_vocab"], (4, cfg["text_len"]), device=device)
        text[:, 8:] = cfg["text_pad"]
        prev = torch.randint(0, cfg["image_vocab"], (4, cfg["image_tokens"]), device=device)
        with torch.no_grad():
            a = m(text, prev)
            dm.Attention.forward = _sdpa_attention
            b = m(text, prev)
        err = (a - b).abs().max().item()
        ok = err < 1e-3 * max(1.0, a.abs().max().item())
        log("SDPA attention vs plain: max |Δ logits| %.2e -> %s" % (err, "SDPA" if ok else "plain"))
        if not ok:
            dm.Attention.forward = _plain_attention
        return ok
    except Exception as err:  # any failure: the plain attention
        dm.Attention.forward = _plain_attention
        log("SDPA unavailable (%s): plain attention" % err)
        return False


# ---------------------------------------------------------------------------------------
# Saving

def save_split(path_fmt, sd, meta, parts):
    """The state dict in `parts` files of about equal size (each under a remote size limit)."""
    names = sorted(sd, key=lambda k: -sd[k].numel())
    bins = [dict() for _ in range(parts)]
    size = [0] * parts
    for k in names:
        i = size.index(min(size))
        bins[i][k] = sd[k].detach().float().cpu()
        size[i] += sd[k].numel()
    for i, b in enumerate(bins):
        st.save(path_fmt % i, b, dict(meta, part="%d/%d" % (i, parts)))


def autocast(on):
    """bf16 autocast on CUDA, nothing otherwise (torch 1.13 CPU builds refuse a CUDA autocast)."""
    import contextlib
    return torch.autocast("cuda", dtype=torch.bfloat16) if on else contextlib.nullcontext()


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------------------------------

def vq_eval(ae, workers, n, seed, device):
    """train_vq.evaluate's measurement (same scenes for the same n, seed), scored in parallel."""
    rng = random.Random(seed)
    scenes = [shapes64.sample_scene(rng, "train" if i % 2 == 0 else "heldout") for i in range(n)]
    gts = np.stack(workers.map(render_scene, scenes, chunksize=16))
    ae.eval()
    recs = []
    with torch.no_grad():
        for i in range(0, n, 256):
            recs.append(dm.to_uint8(ae.decode(ae.encode(dm.to_input(gts[i:i + 256], device)))))
    ae.train()
    recs = np.concatenate(recs)
    verdicts = workers.map(score_one, [(r, shapes64.caption(s)[1]) for r, s in zip(recs, scenes)], chunksize=16)
    return dm.score_summary(verdicts, scenes, with_size=True)


def gen_eval(model, ae, tok, workers, split, n, seed, sc, k, temp, device, batch=512):
    rng = random.Random(seed)
    scenes = [shapes64.sample_scene(rng, split) for _ in range(n)]
    caps = [shapes64.caption(s) for s in scenes]
    gen = torch.Generator(device=device).manual_seed(seed)
    imgs = []
    side = int(round(model.c["image_tokens"] ** 0.5))
    with torch.no_grad():  # fp32 (TF32 matmuls on a GPU), as the engine samples in fp32
        for i in range(0, n, batch):
            rows = torch.tensor([tok.row(c[0], model.c["text_len"]) for c in caps[i:i + batch]], device=device)
            toks = dm.generate(model, rows, temp, k, sc, gen)
            imgs.append(dm.to_uint8(ae.decode(toks.view(-1, side, side))))
    imgs = np.concatenate(imgs)
    verdicts = workers.map(score_one, [(im, c[1]) for im, c in zip(imgs, caps)], chunksize=8)
    return dm.score_summary(verdicts, scenes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="holds vocab.json, merges.txt and the starting vq.pt")
    ap.add_argument("--out", required=True, help="where the results go (created)")
    ap.add_argument("--seconds", type=float, default=540, help="wall-clock budget for everything")
    ap.add_argument("--pool", type=int, default=240000, help="train-split scenes rendered")
    ap.add_argument("--heldout", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--captions", type=int, default=4, help="train-time captions drawn per scene")
    ap.add_argument("--workers", type=int, default=0, help="render/score processes (0: CPUs − 2)")
    ap.add_argument("--vq-seconds", type=float, default=110)
    ap.add_argument("--vq-batch", type=int, default=256)
    ap.add_argument("--vq-lr", type=float, default=5e-4)
    ap.add_argument("--vq-eval", type=int, default=1000)
    ap.add_argument("--tf-batch", type=int, default=256)
    ap.add_argument("--tf-lr", type=float, default=1e-3)
    ap.add_argument("--tf-warmup", type=int, default=400)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--empty", type=float, default=0.1)
    ap.add_argument("--tail-seconds", type=float, default=80, help="kept for the sweep and saving")
    ap.add_argument("--ckpt-every", type=float, default=90)
    ap.add_argument("--sweep-n", type=int, default=200)
    ap.add_argument("--final-n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1, help="seeds the train pool and the transformer's init")
    ap.add_argument("--heldout-seed", type=int, default=2, help="seeds the held-out pool (validation)")
    ap.add_argument("--tf-init", default="", help="start the transformer from these weights (a safetensors "
                    "state dict, config in its metadata) instead of from scratch")
    ap.add_argument("--sweep", default="", help="sampling settings f:k:T,... (default: f 1,1.5,2,3 × k 8,32 × T 0.7,1)")
    args = ap.parse_args()
    deadline = T0 + args.seconds
    os.makedirs(args.out, exist_ok=True)
    res = {"args": vars(args), "torch": torch.__version__}
    results_path = os.path.join(args.out, "results.json")

    nw = args.workers or min(30, max(1, (os.cpu_count() or 2) - 2))
    workers = mp.get_context("fork").Pool(nw)  # before any CUDA call
    tok = dm.Tokenizer(args.run)
    tlen = dm.TF_CONFIG["text_len"]
    hpool = Pool(workers, "heldout", args.heldout_seed, args.heldout, args.chunk, 1, tlen, args.run)  # first:
    pool = Pool(workers, "train", args.seed, args.pool, args.chunk, args.captions, tlen, args.run)  # FIFO

    device = dm.pick_device()
    torch.manual_seed(args.seed)
    if device.type == "cuda":
        # full fp32 where fp32 is asked for: the codebook's nearest-neighbour search and the
        # evaluations must match a CPU's choices (the transformer trains under bf16 autocast)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        log("device", torch.cuda.get_device_name(0), "torch", torch.__version__, "workers", nw)
    else:
        log("device cpu (a smoke test: this script is meant for a GPU), workers", nw)
    res["device"] = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"

    # ---------------- VQ fine-tune
    ck = torch.load(os.path.join(args.run, "vq.pt"), map_location="cpu",
                    **({"weights_only": False} if "weights_only" in torch.load.__code__.co_varnames else {}))
    ae = dm.VQAutoencoder(ck["vq_config"], ck["vq_encoder"]).to(device)
    ae.load_state_dict(ck["model"])
    start_sd = {k: v.detach().clone() for k, v in ae.state_dict().items()}
    opt = torch.optim.Adam([p for p in ae.parameters() if p.requires_grad], lr=args.vq_lr, betas=(0.9, 0.99))
    while not pool.chunks:
        pool.poll()
        time.sleep(0.05)
    log("first chunk after %.1f s" % (time.time() - T0))
    gpu_imgs, gpu_bg = [], []

    def add_images(ids):
        for c in ids:
            ch = pool.chunks[c]
            gpu_imgs.append(torch.from_numpy(ch["imgs"]).to(device))
            gpu_bg.append(torch.tensor([dm.BG_INDEX[s["background"]] for s in ch["scenes"]], device=device))

    add_images(list(pool.chunks))
    bg_rgb = torch.from_numpy(dm.BG_RGB).to(device)
    step, t_vq = 0, time.time()
    vq_end = t_vq + args.vq_seconds  # --vq-seconds 0: keep RUN/vq.pt as it is
    est_total = None
    vq_log = []
    ae.train()
    imgs_all = bg_all = None
    while time.time() < vq_end:
        if step % 50 == 0:
            add_images(pool.poll())
            imgs_all = torch.cat(gpu_imgs) if len(gpu_imgs) > 1 else gpu_imgs[0]
            bg_all = torch.cat(gpu_bg) if len(gpu_bg) > 1 else gpu_bg[0]
            gpu_imgs[:], gpu_bg[:] = [imgs_all], [bg_all]
        sel = torch.randint(0, imgs_all.shape[0], (args.vq_batch,), device=device)
        x = imgs_all[sel].permute(0, 3, 1, 2).float() / 255.0
        obj = dm.object_mask(x, bg_rgb[bg_all[sel]])
        if step == 10:
            t10 = time.time()
        if step == 30:
            est_total = 30 + int((vq_end - time.time()) / ((time.time() - t10) / 20))
            log("VQ: %.1f ms/step at batch %d -> about %d steps" % (
                (time.time() - t10) / 20 * 1e3, args.vq_batch, est_total))
        lr = dm.cosine_lr(step, est_total or 10 ** 9, args.vq_lr, 30)
        for g in opt.param_groups:
            g["lr"] = lr
        rec, commit, idx, flat = ae(x)
        l_rec = dm.vq_rec_loss(rec, x, obj, 4.0)  # train_vq.py's --object-weight 4
        loss = l_rec + 0.25 * commit
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if est_total and step % 25 == 24 and step < 0.5 * est_total:
            ae.restart_dead(flat.detach())
        step += 1
        if step % 200 == 0:
            vq_log.append([step, l_rec.item(), commit.item()])
            log("VQ step %d rec %.4f commit %.4f lr %.2g pool %d" % (step, l_rec.item(), commit.item(), lr,
                                                                   imgs_all.shape[0]))
    res["vq"] = {"start_step": ck["step"], "steps": step, "batch": args.vq_batch, "seconds": time.time() - t_vq,
                 "log": vq_log}
    if step > 0:
        tuned_sd = {k: v.detach().clone() for k, v in ae.state_dict().items()}
        ev_new = vq_eval(ae, workers, args.vq_eval, 777, device)
        ae.load_state_dict(start_sd)
        ev_old = vq_eval(ae, workers, args.vq_eval, 777, device)
        keep_new = ev_new["attributes"]["all"] >= ev_old["attributes"]["all"]
        ae.load_state_dict(tuned_sd if keep_new else start_sd)
        res["vq"].update(eval_start=ev_old, eval_tuned=ev_new, kept="tuned" if keep_new else "start")
        log("VQ eval n=%d: start %.1f%%, tuned %.1f%% -> keep %s" % (
            args.vq_eval, 100 * ev_old["attributes"]["all"], 100 * ev_new["attributes"]["all"], res["vq"]["kept"]))
        log("  tuned per type:", json.dumps({k: round(v, 3) for k, v in ev_new["types"].items()}))
        vq_eval_json = json.dumps(ev_new if keep_new else ev_old)
    else:
        keep_new = False
        ev = os.path.join(args.run, "vq_eval.json")
        vq_eval_json = open(ev).read() if os.path.exists(ev) else "{}"
        log("VQ kept as it is (step %d)" % ck["step"])
    vq_step = ck["step"] + (step if keep_new else 0)
    vq_meta = {"vq_config": json.dumps(ck["vq_config"]), "vq_encoder": json.dumps(ck["vq_encoder"]),
               "step": str(vq_step), "eval": vq_eval_json}
    st.save(os.path.join(args.out, "vq_model.safetensors"), ae.state_dict(), vq_meta)
    write_json(results_path, res)
    del opt, gpu_imgs
    ae.eval()

    # ---------------- tokens
    toks, rows, hrows_full, htoks = [], [], None, None
    tokenized = set()

    def tokenize_new():
        for c in sorted(set(pool.chunks) - tokenized):
            ch = pool.chunks[c]
            with torch.no_grad():
                t = ae.encode(dm.to_input(ch["imgs"], device)).view(len(ch["imgs"]), -1)
            toks.append(t.to(torch.int16))
            rows.append(torch.from_numpy(ch["rows"]).to(device))
            tokenized.add(c)
            ch["imgs"] = None  # the images are no longer needed
    pool.poll()
    tokenize_new()
    hpool.poll(wait=True)
    h = [hpool.chunks[c] for c in sorted(hpool.chunks)]
    himgs = np.concatenate([c["imgs"] for c in h])
    hp = os.path.join(args.run, "pool_heldout")
    if not os.path.exists(hp + ".json"):  # in build_pool's format, for export_default.py's checks
        np.save(hp + ".tmp.npy", himgs)
        os.replace(hp + ".tmp.npy", hp + ".npy")
        write_json(hp + ".json", [dm._scene_json(sc) for c in h for sc in c["scenes"]])
    with torch.no_grad():
        htoks = torch.cat([ae.encode(dm.to_input(himgs[i:i + 500], device)).view(-1, 256)
                           for i in range(0, len(himgs), 500)]).long()
    hrows_full = torch.from_numpy(np.concatenate([c["full"] for c in h])).to(device).long()
    log("tokens: %d train scenes so far, %d held-out" % (sum(len(t) for t in toks), len(htoks)))

    # ---------------- transformer
    cfg = dict(dm.TF_CONFIG, text_vocab=len(tok.vocab), image_vocab=ck["vq_config"]["Codebook"],
               image_bos=ck["vq_config"]["Codebook"])
    sdpa = use_sdpa_if_equal(cfg, device)
    torch.manual_seed(args.seed)
    model = dm.TextToImage(cfg).to(device)
    if args.tf_init:
        init, init_meta = st.load(args.tf_init)
        if "config" in init_meta and json.loads(init_meta["config"]) != cfg:
            sys.exit("--tf-init config %s differs from %s" % (init_meta["config"], cfg))
        model.load_state_dict({k: v.float() for k, v in init.items()})
        log("transformer starts from %s (step %s)" % (args.tf_init, init_meta.get("step", "?")))
        res["tf_init"] = {"file": os.path.basename(args.tf_init), "step": init_meta.get("step")}
    opt = dm.adamw(model, args.tf_lr, args.wd)
    log("transformer: %d params, batch %d, lr %g, SDPA %s" % (dm.param_count(model), args.tf_batch, args.tf_lr, sdpa))
    empty = torch.tensor(tok.empty_row(tlen), device=device)
    vsel = slice(0, min(512, len(htoks)))
    amp = device.type == "cuda"
    logs = {"step": [], "loss": [], "val_step": [], "val_loss": []}

    def validate(step):
        model.eval()
        tot, n = 0.0, 0
        with torch.no_grad(), autocast(amp):
            t, y = hrows_full[vsel], htoks[vsel]
            for i in range(0, len(y), 128):
                yy = y[i:i + 128]
                b0 = torch.full((len(yy), 1), cfg["image_bos"], dtype=torch.long, device=device)
                lg = model(t[i:i + 128], torch.cat([b0, yy[:, :-1]], 1))
                tot += F.cross_entropy(lg.float().reshape(-1, lg.shape[-1]), yy.reshape(-1), reduction="sum").item()
                n += yy.numel()
        model.train()
        logs["val_step"].append(step)
        logs["val_loss"].append(tot / n)
        log("step %d: validation loss %.4f" % (step, tot / n))

    def checkpoint(step, final=False):
        meta = {"config": json.dumps(cfg), "step": str(step), "vq_step": str(vq_step), "done": str(final),
                "logs": json.dumps(logs)}
        save_split(os.path.join(args.out, "tf_part%d.safetensors"), model.state_dict(), meta, 3)
        res["tf"] = {"steps": step, "total_planned": total, "batch": args.tf_batch, "lr": args.tf_lr,
                     "sdpa": sdpa, "train_scenes": sum(len(t) for t in toks), "seconds": time.time() - t_tf,
                     "logs": logs, "done": final}
        write_json(results_path, res)
        log("checkpoint step %d" % step)

    tf_end = deadline - args.tail_seconds
    step, total, t_tf, t_ck = 0, None, time.time(), time.time()
    acc, acc_n = 0.0, 0
    validate(0)
    model.train()
    while True:
        if step == 0 or (step % 100 == 0 and not pool.done()):
            pool.poll()
            tokenize_new()
            all_toks = torch.cat(toks) if len(toks) > 1 else toks[0]
            all_rows = torch.cat(rows) if len(rows) > 1 else rows[0]
            toks[:], rows[:] = [all_toks], [all_rows]
        if step == 20:
            t20 = time.time()
        if step == 70:
            per = (time.time() - t20) / 50
            total = 70 + int((tf_end - time.time()) / per)
            log("transformer: %.1f ms/step -> %d steps planned" % (per * 1e3, total))
        if time.time() > tf_end or (total is not None and step >= total):
            break
        sel = torch.randint(0, all_toks.shape[0], (args.tf_batch,), device=device)
        which = torch.randint(0, all_rows.shape[1], (args.tf_batch,), device=device)
        text = all_rows[sel, which].long()
        drop = torch.rand(args.tf_batch, device=device) < args.empty
        text = torch.where(drop[:, None], empty[None], text)
        target = all_toks[sel].long()
        lr = dm.cosine_lr(step, total or 10 ** 9, args.tf_lr, args.tf_warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = dm.tf_train_step(model, opt, text, target, autocast(amp))
        step += 1
        if step % 50 == 0:
            acc += loss.item()
            acc_n += 1
        if step % 500 == 0:
            logs["step"].append(step)
            logs["loss"].append(acc / max(1, acc_n))
            log("step %d/%s loss %.4f lr %.2g scenes %d" % (step, total, acc / max(1, acc_n), lr, all_toks.shape[0]))
            acc, acc_n = 0.0, 0
        if step % 2000 == 0:
            validate(step)
        if time.time() - t_ck > args.ckpt_every:
            checkpoint(step)
            t_ck = time.time()
    validate(step)
    checkpoint(step, final=total is not None and step >= total)

    # ---------------- sampling sweep (Python sampler; the Go engine's eval is the final word)
    model.eval()
    sweep = []
    if args.sweep:
        settings = [(float(a), int(b), float(c)) for a, b, c in (x.split(":") for x in args.sweep.split(","))]
    else:
        settings = [(sc, k, t) for t in (0.7, 1.0) for k in (8, 32) for sc in (1.0, 1.5, 2.0, 3.0)]
    for sc, k, t in settings:
        if time.time() > deadline - 15:
            log("sweep stopped by the deadline")
            break
        r = gen_eval(model, ae, tok, workers, "train", args.sweep_n, 1000, sc, k, t, device)
        sweep.append({"supercondition": sc, "top_k": k, "temperature": t, "all": r["attributes"]["all"],
                      "attributes": r["attributes"]})
        log("sweep f=%g k=%d T=%g: all %.1f%%" % (sc, k, t, 100 * r["attributes"]["all"]))
        res["sweep"] = sweep
        write_json(results_path, res)
    if sweep:
        best = max(sweep, key=lambda r: r["all"])
        res["best"] = best
        for split, seed in (("train", 3000), ("heldout", 4000)):
            if time.time() > deadline - 8:
                break
            r = gen_eval(model, ae, tok, workers, split, args.final_n, seed, best["supercondition"],
                         best["top_k"], best["temperature"], device)
            res["final_" + split] = r
            log("final %s n=%d: all %.1f%% %s" % (split, args.final_n, 100 * r["attributes"]["all"],
                                                 json.dumps({k: round(v, 3) for k, v in r["attributes"].items()})))
            write_json(results_path, res)
    write_json(results_path, res)
    log("done")
    workers.terminate()


if __name__ == "__main__":
    main()
