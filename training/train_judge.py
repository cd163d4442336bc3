"""Train the judge: a small image-conditioned caption model that picks the best of K candidates.

The default model samples K images per prompt and keeps one (issue 3, "best of K"). Session 5
ranked them by the transformer's own token log-probabilities; this script trains an outside
judge instead, the way DALL·E Mini reranks with CLIP, but small and trained here on the
training split only (the held-out (kind, colour) pairs never appear). The judge scores an image
by how well it explains the prompt: log p(caption | image) under a causal caption decoder that
cross-attends to the image. (A first, contrastive version — a match logit trained against
perturbed captions — learned too slowly on 2 CPU cores: after 950 steps it picked the true
caption among 8 no better than chance. Teacher forcing gives every caption token a target.)

Model (JUDGE_CONFIG; names are the exported tensor names under "judge."; Go: model/judge):

  image 64×64×3, x/255
    convs.0 3→C0 3×3 pad 1, GELU, 2×2 mean pool     → 32×32×C0
    convs.1 C0→C1 3×3 pad 1, GELU, 2×2 mean pool    → 16×16×C1
    convs.2 C1→C2 3×3 pad 1, GELU, 2×2 mean pool    →  8×8×C2
    convs.3 C2→C3 3×3 pad 1, GELU                   →  8×8×C3
    m = ln_img(img_proj (W×C3) + img_pos (64×W))     → 64 image tokens (row-major 8×8)
  caption: the engine's token row [BOS, ids…, EOS] (pads masked)
    x = tok_emb (V×W)[id] + txt_pos (T×W)[i]
  L times (pre-LN):  x += o(attn(ln1(x)))              causal self-attention (q, k, v, o: W×W, no bias)
                     x += co(attn(cq(ln2(x)), ck(m), cv(m)))   cross-attention to the image
                     x += fc2(GELU(fc1(ln3(x))))       (fc1: M×W + bias M, fc2: W×M + bias W)
  log p(id_{i+1} | ids_≤i, image) = log_softmax(lm_head (V×W) · ln_f(x_i))
  score = Σ over the caption's tokens after BOS (its words and EOS)

GELU is the exact erf form. Training data: the CPU pool of 20,000 training-split scenes
(RUN/pool_train.*), each image used as rendered or as its reconstruction through the shipped VQ
autoencoder (encode, quantise, decode: the artefacts of generated images), with --per fresh
training captions (phrases dropped as in the transformer's training; no empty captions) per
image and step; loss: the mean token cross-entropy. Validation (every 5 checkpoints): on the
last 1,000 pool scenes (clean) and on the 1,000 held-out pool scenes (reconstructed), how often
the true caption outscores each and all of NEG false ones: NEG − NEG/2 "hard" ones (one asserted
attribute changed: kind, colour, count, size, position, relation, the two objects swapped,
background; never creating a held-out pair) and NEG/2 captions of other pool scenes.

    /usr/bin/python3 training/train_judge.py --run training/runs/judge --minutes 45
    /usr/bin/python3 training/export_default.py ... --judge training/runs/judge/judge.pt
    /usr/bin/python3 training/train_judge.py --goldens testdata/golden/judge.safetensors \
        --model generator/local/defaultmodel/default.safetensors

Resumable: RUN/judge.pt is written every --ckpt-every steps and at the end.
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

JUDGE_CONFIG = dict(text_vocab=0, text_len=24, width=128, heads=4, layers=3, mlp=256,
                    channels=[16, 32, 64, 128], layer_norm_eps=1e-5)


def attend(q, k, v, heads, bias=None):
    """q (P,Nq,W), k and v (P,Nk,W) → (P,Nq,W): softmax(q·kᵀ/√d + bias)·v per head."""
    p, nq, w = q.shape
    nk, d = k.shape[1], w // heads
    q = (q / math.sqrt(d)).view(p, nq, heads, d).transpose(1, 2)
    k = k.view(p, nk, heads, d).transpose(1, 2)
    v = v.view(p, nk, heads, d).transpose(1, 2)
    s = q @ k.transpose(2, 3)
    if bias is not None:
        s = s + bias
    return (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(p, nq, w)


class JudgeLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        w, eps = c["width"], c["layer_norm_eps"]
        self.heads = c["heads"]
        self.ln1 = nn.LayerNorm(w, eps=eps)
        self.q = nn.Linear(w, w, bias=False)
        self.k = nn.Linear(w, w, bias=False)
        self.v = nn.Linear(w, w, bias=False)
        self.o = nn.Linear(w, w, bias=False)
        self.ln2 = nn.LayerNorm(w, eps=eps)
        self.cq = nn.Linear(w, w, bias=False)
        self.ck = nn.Linear(w, w, bias=False)
        self.cv = nn.Linear(w, w, bias=False)
        self.co = nn.Linear(w, w, bias=False)
        self.ln3 = nn.LayerNorm(w, eps=eps)
        self.fc1 = nn.Linear(w, c["mlp"])
        self.fc2 = nn.Linear(c["mlp"], w)

    def memory(self, m):
        """The image memory's keys and values for this layer: m (B,64,W) → two (B,64,W)."""
        return self.ck(m), self.cv(m)

    def forward(self, x, bias, mk, mv):
        """x (B·g, T, W): g captions of each of B images; mk, mv (B,64,W). Cross-attention rows
        are independent, so each image's g·T caption rows attend to its memory at once."""
        y = self.ln1(x)
        x = x + self.o(attend(self.q(y), self.k(y), self.v(y), self.heads, bias))
        b, (pg, t, w) = mk.shape[0], x.shape
        q = self.cq(self.ln2(x)).reshape(b, pg // b * t, w)
        x = x + self.co(attend(q, mk, mv, self.heads).reshape(pg, t, w))
        return x + self.fc2(F.gelu(self.fc1(self.ln3(x))))


class Judge(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = dict(c)
        ch = c["channels"]
        w = c["width"]
        self.convs = nn.ModuleList([nn.Conv2d(a, b, 3, padding=1) for a, b in zip([3] + ch[:-1], ch)])
        self.img_proj = nn.Linear(ch[-1], w, bias=False)
        self.img_pos = nn.Parameter(torch.randn(64, w) * 0.02)
        self.ln_img = nn.LayerNorm(w, eps=c["layer_norm_eps"])
        self.tok_emb = nn.Embedding(c["text_vocab"], w)
        self.txt_pos = nn.Parameter(torch.randn(c["text_len"], w) * 0.02)
        nn.init.normal_(self.tok_emb.weight, std=0.02)
        self.layers = nn.ModuleList([JudgeLayer(c) for _ in range(c["layers"])])
        self.ln_f = nn.LayerNorm(w, eps=c["layer_norm_eps"])
        self.lm_head = nn.Linear(w, c["text_vocab"], bias=False)

    def image_memory(self, img):
        """img (B,3,64,64) in [0,1] → per layer (keys, values), each (B,64,W)."""
        h = img
        for i, conv in enumerate(self.convs):
            h = F.gelu(conv(h))
            if i < len(self.convs) - 1:
                h = F.avg_pool2d(h, 2)                          # 64 → 32 → 16 → 8
        m = self.ln_img(self.img_proj(h.flatten(2).transpose(1, 2)) + self.img_pos)   # (B,64,W)
        return [layer.memory(m) for layer in self.layers]

    def forward(self, mem, text):
        """mem: image_memory of B images, text (B·g,T) rows with pads (id 1), rows i·g … i·g+g−1
        paired with image i → per-row scores (B·g,): Σ log p(text[i] | text[<i], image) over the
        row's tokens after BOS (its words and EOS), and the mean token cross-entropy."""
        keep = int((text != 1).sum(1).max())     # drop the columns that are padding in every row
        text = text[:, :keep]
        t = keep
        x = self.tok_emb(text) + self.txt_pos[:t]
        causal = torch.ones(t, t).triu(1) * dm.MASK                    # key j > query i masked
        bias = causal[None, None] + ((text == 1).float() * dm.MASK)[:, None, None, :]
        for layer, (mk, mv) in zip(self.layers, mem):
            x = layer(x, bias, mk, mv)
        logp = F.log_softmax(self.lm_head(self.ln_f(x[:, :-1])).float(), -1)   # predicts text[:, 1:]
        target = text[:, 1:]
        real = (target != 1).float()
        tok = logp.gather(2, target.unsqueeze(2)).squeeze(2) * real
        return tok.sum(1), -tok.sum() / real.sum()


# ---------------------------------------------------------------------------------------
# Negatives

def _ok(scene):
    return not ({(o[0], o[1]) for o in scene["objects"]} & shapes64.HELD_OUT)


def _with(objs, i, kind=None, colour=None, size=None):
    o = list(objs[i])
    if kind is not None:
        o[0] = kind
    if colour is not None:
        o[1] = colour
    if size is not None:
        o[2] = size
    objs = list(objs)
    objs[i] = tuple(o)
    return objs


def perturb(scene, asserted, rng):
    """A copy of scene with one asserted attribute changed (so its caption, drawn with the same
    phrase choices, is false for scene's image) and no held-out pair; None if none found."""
    t = scene["type"]
    objs = scene["objects"]
    ops = [("kind", 3.0), ("colour", 2.0)]
    if asserted.get("size"):
        ops.append(("size", 1.0))
    if asserted.get("background"):
        ops.append(("background", 0.5))
    if t == "single":
        ops.append(("count", 1.0))
        if asserted.get("position"):
            ops.append(("position", 1.0))
    elif t == "count":
        ops.append(("count", 2.0))
    else:
        ops += [("relation", 1.5), ("swap", 1.0), ("swap_colour", 0.7), ("kind2", 1.5), ("colour2", 1.0)]
    for _ in range(20):
        op = rng.choices([o for o, _ in ops], [w for _, w in ops])[0]
        sc = dict(scene)
        if op in ("kind", "colour", "kind2", "colour2"):
            field = 0 if op.startswith("kind") else 1
            names = shapes64.KINDS if field == 0 else shapes64.COLOUR_NAMES
            # the caption's first-named object: objs[0] for single/count, B = objs[1] for relation
            idx = [1] if (t == "relation" and not op.endswith("2")) else [0]
            if t == "count":
                idx = list(range(len(objs)))
            new = rng.choice([n for n in names if n != objs[idx[0]][field]])
            o2 = objs
            for i in idx:
                o2 = _with(o2, i, **({"kind": new} if field == 0 else {"colour": new}))
            sc["objects"] = o2
        elif op == "size":
            sizes = ["small", "medium", "large"] if t == "single" else ["small", "medium"]
            new = rng.choice([s for s in sizes if s != scene["size"]])
            sc["size"] = new
            sc["objects"] = [(o[0], o[1], shapes64.SIZES[new], o[3], o[4]) for o in objs]
        elif op == "background":
            sc["background"] = rng.choice([b for b in shapes64.BACKGROUNDS if b != scene["background"]])
        elif op == "position":
            sc["position"] = rng.choice([p for p in shapes64.POSITIONS if p != scene["position"]])
        elif op == "count":
            if t == "single":
                sc["type"] = "count"
                n = rng.randint(2, 4)
                if scene["size"] == "large":
                    sc["size"] = rng.choice(["small", "medium"]) if asserted.get("size") else "small"
                sc["objects"] = [objs[0]] * n
            else:
                n = rng.choice([c for c in (2, 3, 4) if c != len(objs)])
                sc["objects"] = [objs[0]] * n
        elif op == "relation":
            sc["relation"] = rng.choice([r for r in shapes64.RELATIONS if r != scene["relation"]])
        elif op == "swap":
            if objs[0][:2] == objs[1][:2]:
                continue
            sc["objects"] = [objs[1], objs[0]]
        elif op == "swap_colour":
            if objs[0][1] == objs[1][1]:
                continue
            sc["objects"] = [(objs[0][0], objs[1][1]) + tuple(objs[0][2:]),
                             (objs[1][0], objs[0][1]) + tuple(objs[1][2:])]
        if t == "relation" and sc["objects"][0][:2] == sc["objects"][1][:2]:
            continue
        if _ok(sc):
            return sc
    return None


def pair_captions(scene, rng, neg):
    """(positive caption, [neg false captions]) drawn with the same phrase choices."""
    seed = rng.getrandbits(62)
    pos, asserted = shapes64.caption(scene, random.Random(seed), train=True)
    out = []
    tries = 0
    while len(out) < neg and tries < 50:
        tries += 1
        sc = perturb(scene, asserted, rng)
        if sc is None:
            continue
        text, _ = shapes64.caption(sc, random.Random(seed), train=True)
        if text != pos:
            out.append(text)
    while len(out) < neg:  # a scene with too few options: repeat one
        out.append(out[-1] if out else pos)
    return pos, out


# ---------------------------------------------------------------------------------------

def reconstructions(ae, imgs, batch=200):
    out = np.empty_like(imgs)
    with torch.no_grad():
        for s in range(0, len(imgs), batch):
            x = dm.to_input(imgs[s:s + batch], "cpu")
            out[s:s + batch] = dm.to_uint8(ae.decode(ae.encode(x)))
    return out


def load_data(args, log):
    path = os.path.join(args.run, "data.npz")
    imgs, scenes = dm.load_pool(os.path.join(args.pool, "pool_train"))
    himgs, hscenes = dm.load_pool(os.path.join(args.pool, "pool_heldout"))
    if os.path.exists(path):
        d = np.load(path)
        return imgs, d["rec"], scenes, himgs, d["hrec"], hscenes
    ck = dm.load_ckpt(args.vq)
    ae = dm.VQAutoencoder(ck["vq_config"], ck["vq_encoder"])
    ae.load_state_dict(ck["model"])
    ae.eval()
    t0 = time.time()
    rec, hrec = reconstructions(ae, imgs), reconstructions(ae, himgs)
    log("reconstructed %d + %d pool images through %s in %.0f s" % (len(imgs), len(himgs), args.vq, time.time() - t0))
    np.savez(path + ".tmp.npz", rec=rec, hrec=hrec)
    os.replace(path + ".tmp.npz", path)
    return imgs, rec, scenes, himgs, hrec, hscenes


def make_batch(tok, imgs, scenes, idx, rng, neg):
    """images (B,3,64,64), text rows (B·(1+neg), T): image i's rows are i·(1+neg) … (positive first)."""
    length = JUDGE_CONFIG["text_len"]
    rows = []
    hard = neg - neg // 2  # the rest are captions of other scenes (easy negatives)
    for i in idx:
        pos, negs = pair_captions(scenes[i], rng, hard)
        while len(negs) < neg:
            other = scenes[rng.randrange(len(scenes))]
            text, _ = shapes64.caption(other, rng, train=True)
            if text != pos:
                negs.append(text)
        rows += [tok.row(t, length) for t in [pos] + negs]
    return dm.to_input(np.stack([imgs[i] for i in idx]), "cpu"), torch.tensor(rows, dtype=torch.long)


def rank_stats(judge, img, text, neg):
    """For B images with 1 + neg caption rows each (the true one first): how often the true
    caption scores above every negative (pick) and above each (pair)."""
    with torch.no_grad():
        score, _ = judge(judge.image_memory(img), text)
    lg = score.view(-1, 1 + neg)
    return (lg.argmax(1) == 0).float().mean().item(), (lg[:, :1] > lg[:, 1:]).float().mean().item()


def positive_batch(tok, imgs, recs, scenes, idx, rng, per, p_rec):
    """images (B,3,64,64) and per training captions of each ((B·per, T) rows)."""
    length = JUDGE_CONFIG["text_len"]
    pick = [recs[i] if rng.random() < p_rec else imgs[i] for i in idx]
    rows = [tok.row(shapes64.caption(scenes[i], rng, train=True)[0], length) for i in idx for _ in range(per)]
    return dm.to_input(np.stack(pick), "cpu"), torch.tensor(rows, dtype=torch.long)


def image_negatives(scene, rng, n):
    """n scenes that render differently from scene in one attribute a full caption states: the
    kind or colour of its (first-named) object or objects, the other object's kind or colour
    (relations), the two objects' colours swapped, or the size (held-out pairs allowed: for
    validation only)."""
    objs, t = scene["objects"], scene["type"]
    first = [1] if t == "relation" else list(range(len(objs)))
    out = []
    while len(out) < n:
        op = rng.choice(["kind", "colour", "size"] + (["kind2", "colour2", "swap_colour"] if t == "relation" else []))
        sc = dict(scene)
        o2 = list(objs)
        if op in ("kind", "colour", "kind2", "colour2"):
            f = 0 if op.startswith("kind") else 1
            idx = [0] if op.endswith("2") else first
            names = shapes64.KINDS if f == 0 else shapes64.COLOUR_NAMES
            new = rng.choice([x for x in names if x != objs[idx[0]][f]])
            for i in idx:
                o = list(o2[i])
                o[f] = new
                o2[i] = tuple(o)
        elif op == "swap_colour":
            if objs[0][1] == objs[1][1]:
                continue
            o2 = [(objs[0][0], objs[1][1]) + tuple(objs[0][2:]), (objs[1][0], objs[0][1]) + tuple(objs[1][2:])]
        else:
            sizes = ["small", "medium", "large"] if t == "single" else ["small", "medium"]
            sc["size"] = rng.choice([x for x in sizes if x != scene["size"]])
            o2 = [(o[0], o[1], shapes64.SIZES[sc["size"]], o[3], o[4]) for o in objs]
        if t == "relation" and o2[0][:2] == o2[1][:2]:
            continue
        sc["objects"] = o2
        out.append(sc)
    return out


def image_rank(judge, tok, scenes, neg, seed, n=300):
    """For n scenes: the full caption scored against the scene's image and neg images of
    image_negatives; how often the true image scores above all (pick) and each (pair)."""
    rng = random.Random(seed)
    judge.eval()
    picks, pairs = 0.0, 0.0
    for s in range(0, n, 50):
        imgs, rows = [], []
        for sc in scenes[s:min(s + 50, n)]:
            text = tok.row(shapes64.caption(sc)[0], JUDGE_CONFIG["text_len"])
            for v in [sc] + image_negatives(sc, rng, neg):
                imgs.append(dm.render_fast(v["background"], v["objects"]))
                rows.append(text)
        with torch.no_grad():
            img = dm.to_input(np.stack(imgs), "cpu")
            score, _ = judge(judge.image_memory(img), torch.tensor(rows))
        lg = score.view(-1, 1 + neg)
        picks += (lg.argmax(1) == 0).float().sum().item()
        pairs += (lg[:, :1] > lg[:, 1:]).float().mean(1).sum().item()
    judge.train()
    return picks / n, pairs / n


def evaluate(judge, tok, imgs, scenes, neg, seed, n=1000):
    rng = random.Random(seed)
    judge.eval()
    accs, pairs = [], []
    for s in range(0, min(n, len(imgs)), 100):
        idx = list(range(s, min(s + 100, n, len(imgs))))
        img, text = make_batch(tok, imgs, scenes, idx, rng, neg)
        a, p = rank_stats(judge, img, text, neg)
        accs.append(a * len(idx))
        pairs.append(p * len(idx))
    judge.train()
    m = min(n, len(imgs))
    return sum(accs) / m, sum(pairs) / m


def goldens(args, log):
    """Golden tensors for the Go judge (model/judge), computed in float32 from the judge stored in
    args.model (so fp16 rounding is the file's): four rendered scenes (two per split), two
    captions each (the scene's full caption, and a perturbed one); per image the memory m
    (64, W) before the per-layer projections, and the scores (4, 2)."""
    import hashlib
    import st
    with open(args.model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    tensors, meta = st.load(args.model)
    cfg = json.loads(meta["judge.config"])
    judge = Judge(cfg)
    judge.load_state_dict({k[len("judge."):]: v.float() for k, v in tensors.items() if k.startswith("judge.")})
    judge.eval()
    vocab, merges = meta["tokenizer.vocab"], meta["tokenizer.merges"]
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "vocab.json"), "w").write(vocab)
        open(os.path.join(d, "merges.txt"), "w").write(merges)
        tok = dm.Tokenizer(d)
    rng = random.Random(4242)
    imgs, rows, captions = [], [], []
    for split in ("train", "train", "heldout", "heldout"):
        sc = shapes64.sample_scene(rng, split)
        imgs.append(shapes64.render(sc["background"], sc["objects"]))
        pos, asserted = shapes64.caption(sc)
        neg = None
        while neg is None:
            p = perturb(sc, asserted, rng)
            if p is not None:
                neg = shapes64.caption(p)[0]
        captions += [pos, neg]
        rows.append([tok.row(pos, cfg["text_len"]), tok.row(neg, cfg["text_len"])])
    img = dm.to_input(np.stack(imgs), "cpu")
    text = torch.tensor(rows, dtype=torch.long)
    with torch.no_grad():
        h = img
        for i, conv in enumerate(judge.convs):
            h = F.gelu(conv(h))
            if i < len(judge.convs) - 1:
                h = F.avg_pool2d(h, 2)
        m = judge.ln_img(judge.img_proj(h.flatten(2).transpose(1, 2)) + judge.img_pos)
        scores = judge(judge.image_memory(img), text.view(-1, cfg["text_len"]))[0].view(4, 2)
    out = {"images": torch.from_numpy(np.stack(imgs)), "ids": text,
           "memory": m.float(), "scores": scores.float()}
    st.save(args.goldens, out, {"model_sha256": sha, "captions": json.dumps(captions)})
    log("wrote %s (model sha256 %s): scores %s" % (args.goldens, sha, scores.tolist()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=os.path.join(HERE, "runs", "judge"))
    ap.add_argument("--pool", default=os.path.join(HERE, "runs", "default"), help="folder of pool_train.*, pool_heldout.*")
    ap.add_argument("--vq", default=os.path.join(HERE, "checkpoints", "vq_gpu.pt"),
                    help="the shipped VQ autoencoder (its reconstructions are half the training images)")
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "runs", "default"), help="folder of vocab.json, merges.txt")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--neg", type=int, default=7, help="negatives per image in validation")
    ap.add_argument("--per", type=int, default=2, help="training captions per image and step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--p-rec", type=float, default=0.5, help="share of images shown as VQ reconstructions")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--goldens", help="write golden tensors for the Go tests here (needs --model) and stop")
    ap.add_argument("--model", help="with --goldens: the default-model file that holds the judge")
    args = ap.parse_args()
    os.makedirs(args.run, exist_ok=True)
    logf = open(os.path.join(args.run, "judge.log"), "a")

    def log(msg):
        line = time.strftime("%H:%M:%S ") + msg
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    torch.set_num_threads(args.threads)
    if args.goldens:
        goldens(args, log)
        return
    tok = dm.Tokenizer(args.tokenizer)
    cfg = dict(JUDGE_CONFIG, text_vocab=len(json.load(open(os.path.join(args.tokenizer, "vocab.json")))))
    torch.manual_seed(args.seed)
    judge = Judge(cfg)
    opt = torch.optim.AdamW(judge.parameters(), lr=args.lr, weight_decay=0.01)
    ckpath = os.path.join(args.run, "judge.pt")
    step, spent, logs = 0, 0.0, []
    if os.path.exists(ckpath):
        ck = dm.load_ckpt(ckpath)
        judge.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, spent, logs = ck["step"], ck["spent"], ck["logs"]
        log("resumed at step %d (%.1f min spent)" % (step, spent / 60))
    imgs, recs, scenes, himgs, hrecs, hscenes = load_data(args, log)
    ntrain = len(imgs) - 1000  # the last 1,000 scenes are validation
    nparams = sum(p.numel() for p in judge.parameters())
    log("judge: %d parameters, %d training scenes, batch %d × %d captions" % (nparams, ntrain, args.batch, args.per))
    budget = args.minutes * 60
    rng = random.Random(args.seed * 7919 + step)
    t_last = time.time()
    while spent < budget:
        frac = spent / budget
        lr = args.lr * (min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))))
        for gp in opt.param_groups:
            gp["lr"] = lr
        idx = [rng.randrange(ntrain) for _ in range(args.batch)]
        img, text = positive_batch(tok, imgs, recs, scenes, idx, rng, args.per, args.p_rec)
        _, loss = judge(judge.image_memory(img), text)
        opt.zero_grad()
        loss.backward()
        opt.step()
        now = time.time()
        spent += now - t_last
        t_last = now
        step += 1
        logs.append({"step": step, "loss": loss.item()})
        if step % 20 == 0:
            log("step %d  loss %.4f  lr %.2e  %.2f s/step  %.1f min" % (step, loss.item(), lr, spent / step, spent / 60))
        if step % args.ckpt_every == 0 or spent >= budget:
            if step % (args.ckpt_every * 5) == 0 or spent >= budget:
                va, vp = evaluate(judge, tok, imgs[ntrain:], scenes[ntrain:], args.neg, 1)
                ha, hp = evaluate(judge, tok, hrecs, hscenes, args.neg, 2)
                log("val, captions for an image: seen (clean): pick %.3f pair %.3f | held-out (reconstructed): pick %.3f pair %.3f" % (va, vp, ha, hp))
                ia, ip = image_rank(judge, tok, scenes[ntrain:], 3, 3)
                ja, jp = image_rank(judge, tok, hscenes, 3, 4)
                log("val, images for a caption (1 + 3 renders): seen: pick %.3f pair %.3f | held-out: pick %.3f pair %.3f" % (ia, ip, ja, jp))
                logs[-1].update(val_pick=va, held_pick=ha)
            dm.save_ckpt(ckpath, {"model": judge.state_dict(), "opt": opt.state_dict(), "step": step,
                                  "spent": spent, "logs": logs, "config": cfg})
            t_last = time.time()
    dm.plot_losses(os.path.join(args.run, "judge_loss.png"),
                   {"loss": ([l["step"] for l in logs], [l["loss"] for l in logs])}, "judge")
    log("done: step %d, %.1f min" % (step, spent / 60))


if __name__ == "__main__":
    main()
