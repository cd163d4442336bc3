"""Train the critic: a small CNN that finds objects cut by the image border, to help rank candidates.

The default model keeps the best of K sampled images (issue 3). Its judge (train_judge.py) asks
whether an image explains the prompt, but it never saw a scene with an object cut by the image
border, and that is the commonest way a kept image goes wrong (session 9: about 10 of the 15
seen prompts of seed 1 that had a right candidate but kept a wrong one). In shapes64 every object
lies inside the frame. The critic learns that from renders: whole scenes against the same scenes
with one object moved across the border. It never sees a candidate, a held-out pair, or the
scorer. Its score joins the ranking: judge + judge.self_weight·self-score + judge.critic_weight·critic.

Model (names are the exported tensor names under "critic."; Go: model/judge, Critic):

  image 64×64×3, x/255
    convs.0 3→C0 3×3 pad 1, GELU, 2×2 mean pool     → 32×32×C0
    convs.1 C0→C1 3×3 pad 1, GELU, 2×2 mean pool    → 16×16×C1
    convs.2 C1→C2 3×3 pad 1, GELU, 2×2 mean pool    →  8×8×C2
    convs.3 C2→C3 3×3 pad 1, GELU                   →  8×8×C3      (the judge's stem, its start)
    f = head (1×1 conv C3→1, bias) + pos (8×8)       →  8×8 flaw logits
    score = −logsumexp(f)                            (larger: no cell looks cut)
  training: logit(whole) = score + bias, binary cross-entropy; bias is not exported.

Data: the CPU pool of 20,000 training-split scenes (RUN/pool_train.*). Negatives: --cuts scenes
drawn from it, one object of each moved so that its centre is 0.35·s outside to 0.3·s inside one
image edge (s its side), rendered by the generator. Positives: the pool's scenes as they are. Both
pass through the shipped VQ autoencoder (encode, quantise, decode), as candidates are VQ decodes.
The last 2,000 pool scenes (and the cuts made from them) are held out to measure the AUC.
Horizontal flips, AdamW 1e-3 cosine to 10 %, batch 64 + 64, the stem started from the judge's.

    /usr/bin/python3 training/train_critic.py --run training/runs/critic --minutes 10
    /usr/bin/python3 training/export_default.py ... --critic training/runs/critic/critic.pt --critic-weight 0.1
    /usr/bin/python3 training/train_critic.py --goldens testdata/golden/critic.safetensors \\
        --model generator/local/defaultmodel/default.safetensors

Resumable: RUN/critic.pt (weights, optimiser, step, minutes spent) is written every 100 steps and
at the end; a second call continues until --minutes have been spent in all.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import default_model as dm  # noqa: E402
import shapes64  # noqa: E402
from train_judge import reconstructions  # noqa: E402  (VQ encode, quantise, decode)

CRITIC_CONFIG = {"channels": [16, 32, 64, 128]}
VAL_FROM = 18000  # pool scenes from here on are held out


class Critic(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = dict(c)
        ch = c["channels"]
        self.convs = nn.ModuleList([nn.Conv2d(a, b, 3, padding=1) for a, b in zip([3] + ch[:-1], ch)])
        self.head = nn.Conv2d(ch[-1], 1, 1)
        self.pos = nn.Parameter(torch.zeros(1, 1, 8, 8))
        self.bias = nn.Parameter(torch.zeros(()))  # training only

    def flaws(self, img):
        """img (B,3,64,64) in [0,1] → flaw logits (B,64), cell p = row·8 + col."""
        h = img
        for i, conv in enumerate(self.convs):
            h = F.gelu(conv(h))
            if i < len(self.convs) - 1:
                h = F.avg_pool2d(h, 2)
        return (self.head(h) + self.pos).flatten(1)

    def forward(self, img):
        """The critic's score (B,): −logsumexp of the flaw logits."""
        return -torch.logsumexp(self.flaws(img), 1)

    def exported(self):
        return {k: v for k, v in self.state_dict().items() if k != "bias"}


def cut(scene, rng):
    """scene's objects with one moved across an image edge (0.35·s outside to 0.3·s inside)."""
    objs = list(scene["objects"])
    i = rng.randrange(len(objs))
    kind, colour, s, cx, cy = objs[i]
    e = rng.uniform(-0.35 * s, 0.3 * s)
    side = rng.randrange(4)
    if side == 0:
        cx = e
    elif side == 1:
        cx = 64 - e
    elif side == 2:
        cy = e
    else:
        cy = 64 - e
    objs[i] = (kind, colour, s, cx, cy)
    return objs


def load_vq(path):
    ck = dm.load_ckpt(path)
    ae = dm.VQAutoencoder(ck["vq_config"], ck["vq_encoder"])
    ae.load_state_dict(ck["model"])
    ae.eval()
    return ae


def load_data(args, log):
    """(whole, cut, cut_index): VQ reconstructions of the pool and of the cut scenes, cached in RUN."""
    path = os.path.join(args.run, "data.npz")
    if os.path.exists(path):
        d = np.load(path)
        return d["whole"], d["cut"], d["idx"]
    imgs, scenes = dm.load_pool(os.path.join(args.pool, "pool_train"))
    rng = random.Random(args.seed)
    idx = np.array(rng.sample(range(len(scenes)), args.cuts))
    t0 = time.time()
    raw = np.stack([dm.render_fast(scenes[i]["background"], cut(scenes[i], rng)) for i in idx])
    ae = load_vq(args.vq)
    whole, cuts = reconstructions(ae, imgs), reconstructions(ae, raw)
    log("rendered %d cut scenes, reconstructed them and %d whole ones in %.0f s" % (len(raw), len(imgs), time.time() - t0))
    np.savez(path + ".tmp.npz", whole=whole, cut=cuts, idx=idx)
    os.replace(path + ".tmp.npz", path)
    return whole, cuts, idx


def auc(model, whole, cuts):
    """How often a held-out whole scene scores above a held-out cut one."""
    model.eval()
    with torch.no_grad():
        a = torch.cat([model(dm.to_input(whole[s:s + 500], "cpu")) for s in range(0, len(whole), 500)])
        b = torch.cat([model(dm.to_input(cuts[s:s + 500], "cpu")) for s in range(0, len(cuts), 500)])
    model.train()
    return (a[:, None] > b[None, :]).float().mean().item()


def train(args, log):
    os.makedirs(args.run, exist_ok=True)
    dm.setup_threads(args.threads)
    torch.manual_seed(args.seed)
    whole, cuts, idx = load_data(args, log)
    held = idx >= VAL_FROM
    cut_tr, cut_va = cuts[~held], cuts[held]
    whole_tr, whole_va = whole[:VAL_FROM], whole[VAL_FROM:]
    model = Critic(CRITIC_CONFIG)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    ckpt = os.path.join(args.run, "critic.pt")
    ck = dm.load_ckpt(ckpt)
    step, spent, logs = 0, 0.0, []
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, spent, logs = ck["step"], ck["minutes"] * 60, ck["logs"]
        log("resumed at step %d after %.1f minutes" % (step, spent / 60))
    else:
        jck = dm.load_ckpt(args.judge)
        if jck is None:
            sys.exit("no judge checkpoint at %s (its stem starts the critic's)" % args.judge)
        model.convs.load_state_dict({k[len("convs."):]: v for k, v in jck["model"].items() if k.startswith("convs.")})
        log("stem from %s" % args.judge)
    nr = np.random.default_rng(args.seed + step)
    total = args.minutes * 60
    stopper = dm.Stopper()
    b = args.batch
    t0 = time.time() - spent

    def save():
        dm.save_ckpt(ckpt, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                            "minutes": (time.time() - t0) / 60, "logs": logs, "config": CRITIC_CONFIG,
                            "done": time.time() - t0 >= total})

    while time.time() - t0 < total and not stopper.stop:
        frac = (time.time() - t0) / total
        for g in opt.param_groups:
            g["lr"] = args.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
        x = dm.to_input(np.concatenate([cut_tr[nr.integers(0, len(cut_tr), b)], whole_tr[nr.integers(0, len(whole_tr), b)]]), "cpu")
        flip = torch.rand(len(x)) < 0.5
        x[flip] = x[flip].flip(3)
        y = torch.cat([torch.zeros(b), torch.ones(b)])
        loss = F.binary_cross_entropy_with_logits(model(x) + model.bias, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            v = auc(model, whole_va, cut_va)
            logs.append({"step": step, "loss": loss.item(), "val_auc": v})
            log("step %d %.1f min loss %.4f held-out AUC %.4f" % (step, (time.time() - t0) / 60, loss.item(), v))
            save()
    save()
    v = auc(model, whole_va, cut_va)
    log("stopped at step %d after %.1f minutes: held-out AUC %.4f (%d whole, %d cut scenes)" % (
        step, (time.time() - t0) / 60, v, len(whole_va), len(cut_va)))
    if logs:
        steps = [d["step"] for d in logs]
        dm.plot_losses(os.path.join(args.run, "critic_loss.png"),
                       {"loss": (steps, [d["loss"] for d in logs]), "1 − held-out AUC": (steps, [1 - d["val_auc"] for d in logs])},
                       "critic: cut vs whole scenes")


def goldens(args, log):
    """Golden tensors for the Go critic, in float32 from the critic stored in args.model (fp16
    rounding is the file's): four rendered scenes (two whole, two with an object cut), their
    flaw logits (4, 64) and scores (4,)."""
    import hashlib
    import st
    with open(args.model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    tensors, meta = st.load(args.model)
    model = Critic(json.loads(meta["critic.config"]))
    sd = {k[len("critic."):]: v.float() for k, v in tensors.items() if k.startswith("critic.")}
    sd["bias"] = torch.zeros(())
    model.load_state_dict(sd)
    model.eval()
    rng = random.Random(4243)
    imgs = []
    for i in range(4):
        sc = shapes64.sample_scene(rng, "train")
        objs = cut(sc, rng) if i % 2 else sc["objects"]
        imgs.append(shapes64.render(sc["background"], objs))
    img = dm.to_input(np.stack(imgs), "cpu")
    with torch.no_grad():
        flaws, scores = model.flaws(img), model(img)
    st.save(args.goldens, {"images": torch.from_numpy(np.stack(imgs)), "flaws": flaws.float(), "scores": scores.float()},
            {"model_sha256": sha})
    log("wrote %s (model sha256 %s): scores %s" % (args.goldens, sha, scores.tolist()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=os.path.join(HERE, "runs", "critic"))
    ap.add_argument("--pool", default=os.path.join(HERE, "runs", "default"), help="folder of pool_train.*")
    ap.add_argument("--vq", default=os.path.join(HERE, "checkpoints", "vq_gpu.pt"), help="the shipped VQ autoencoder")
    ap.add_argument("--judge", default=os.path.join(HERE, "runs", "judge", "judge.pt"), help="its stem starts the critic's")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--cuts", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=64, help="cut and whole images per step, each")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--goldens", help="write golden tensors for the Go critic to this file (needs --model)")
    ap.add_argument("--model", help="a default-model file holding a critic (with --goldens)")
    args = ap.parse_args()

    def log(msg):
        print(msg, flush=True)

    if args.goldens:
        if not args.model:
            ap.error("--goldens needs --model")
        goldens(args, log)
    else:
        train(args, log)


if __name__ == "__main__":
    main()
