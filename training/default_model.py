"""Shared code for training tessella's embedded default model (issue 3).

Used by train_vq.py, train_transformer.py and export_default.py; run with
/usr/bin/python3 (torch 1.13.1). It holds

  * the default configurations (VQ autoencoder, transformer) and the Go config
    JSON built from them (field names of model.Config / vqgan.Config);
  * a min-dalle tokenizer for the caption vocabulary (vocab.json + merges.txt);
  * the VQ autoencoder: a conv encoder 64×64 → 16×16×CodeDim, an EMA codebook
    with dead-code restarts, and as decoder reference_vqgan.Detokenizer (the
    engine's detokenizer, so its state dict loads in Go unchanged);
  * the text → image-token transformer as nn.Modules with min-dalle's
    state-dict names and math (spec §5–§6): LayerNorm sandwich, GLU with exact
    GELU, no Linear biases, positions from 0, −1e12 additive masks;
  * the data pool: shapes64 scenes rendered once and cached under training/runs.
"""
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
import shapes64  # noqa: E402
import reference_vqgan  # noqa: E402
import st  # noqa: E402

MASK = -1e12  # min-dalle's additive attention mask

# ---------------------------------------------------------------------------------------
# Configurations

# VQ detokenizer (reference_vqgan / Go vqgan.Config field names). 3 levels: upscale 4, so a
# 16×16 token grid decodes to 64×64 pixels; 4×4 pixels per code.
# Base 16 × [1, 2, 4] (16/32/64 channels) costs 1.25 CPU-s per batch-32 training step here,
# Base 32 × [1, 2, 2] 2.05 s (measured, 1 torch thread, loaded machine).
VQ_CONFIG = dict(Codebook=1024, CodeDim=64, Base=16, ChannelMult=[1, 2, 4], ResBlocks=1,
                 AttnLevels=[], Groups=8, Eps=1e-5)
# VQ encoder (training only, not exported): channels per level, mirrors the decoder.
VQ_ENCODER = dict(Base=16, ChannelMult=[1, 2, 4], ResBlocks=1)

# Transformer (Go model.Config field names). text_vocab is set from vocab.json;
# image_vocab = codebook size; image_bos = the extra embedding row (never sampled).
TF_CONFIG = dict(text_vocab=0, text_len=24, text_pad=1, width=256, heads=4, glu=682,
                 encoder_layers=4, decoder_layers=4, image_vocab=1024, image_tokens=256,
                 image_bos=1024, layer_norm_eps=1e-5)


def go_config(tf, vq):
    """The Go model.Config as a JSON-able dict (vqgan.Config has no JSON tags: Go field names)."""
    c = {k: tf[k] for k in ("text_vocab", "text_len", "text_pad", "width", "heads", "glu",
                            "encoder_layers", "decoder_layers", "image_vocab", "image_tokens",
                            "image_bos", "layer_norm_eps")}
    c["vqgan"] = {k: vq[k] for k in ("Codebook", "CodeDim", "Base", "ChannelMult", "ResBlocks",
                                     "AttnLevels", "Groups", "Eps")}
    return c


def pick_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def setup_threads(n):
    if not torch.cuda.is_available():
        torch.set_num_threads(max(1, n))


# ---------------------------------------------------------------------------------------
# Caption vocabulary and tokenizer

def caption_words():
    """Every word the shapes64 caption grammar can produce."""
    words = set("a an on with background in the at of to".split())
    words |= set(shapes64.KINDS) | {shapes64.plural(k) for k in shapes64.KINDS}
    words |= set(shapes64.COLOURS) | set(shapes64.BACKGROUNDS) | set(shapes64.SIZES)
    words |= set(shapes64.COUNT_WORDS.values())
    for p in shapes64.POSITIONS:
        words |= set(shapes64._position_phrase(p).split())
    for r in shapes64.RELATIONS:
        words |= set(r.split())
    return sorted(words)


def write_corpus(path, n=20000, seed=1):
    """A caption corpus: every word once, then n train-time captions of both splits."""
    rng = random.Random(seed)
    lines = [" ".join(caption_words())]
    for i in range(n):
        sc = shapes64.sample_scene(rng, "train" if i % 4 else "heldout")
        lines.append(shapes64.caption(sc, rng, train=True)[0])
    with open(path, "w", encoding="utf8") as f:
        f.write("\n".join(lines) + "\n")


class Tokenizer:
    """min-dalle's TextTokenizer (spec §4) over vocab.json + merges.txt."""

    def __init__(self, directory):
        with open(os.path.join(directory, "vocab.json"), encoding="utf8") as f:
            self.vocab = json.load(f)
        with open(os.path.join(directory, "merges.txt"), encoding="utf8") as f:
            lines = f.read().split("\n")[1:-1]
        self.rank = {tuple(l.split()): i for i, l in enumerate(lines)}
        self.bos, self.eos, self.unk = self.vocab["<s>"], self.vocab["</s>"], self.vocab["<unk>"]
        self.cache = {}

    def _word(self, word):
        if word in self.cache:
            return self.cache[word]
        sym = [chr(ord(" ") + 256)] + list(word)
        while len(sym) > 1:
            pairs = [(self.rank.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(sym, sym[1:]))]
            r, i = min(pairs)
            if r == math.inf:
                break
            sym = sym[:i] + [sym[i] + sym[i + 1]] + sym[i + 2:]
        ids = [self.vocab.get(s, self.unk) for s in sym]
        self.cache[word] = ids
        return ids

    def tokenize(self, text):
        if not text.isascii():  # only non-ASCII text can hold emoji (the emoji package is optional then)
            from emoji import demojize
            text = demojize(text, delimiters=("", ""))
        text = text.lower().encode("ascii", errors="ignore").decode()
        ids = [self.bos]
        for w in text.split(" "):
            if w:
                ids += self._word(w)
        return ids + [self.eos]

    def row(self, text, length, pad=1):
        """Encoder input row: [BOS, ids, EOS, PAD…] cut to length (min-dalle cuts EOS too)."""
        ids = self.tokenize(text)[:length]
        return ids + [pad] * (length - len(ids))

    def empty_row(self, length, pad=1):
        return [self.bos, self.eos] + [pad] * (length - 2)


# ---------------------------------------------------------------------------------------
# Data pool

def render_fast(background, objects):
    """shapes64.render, bit-identical, but each object's coverage is evaluated only on the
    sample points of a box around it (coverage_mask is pointwise, so the result is the same)."""
    ss = shapes64.SS
    img = np.empty((64 * ss, 64 * ss, 3), dtype=np.float64)
    img[:] = shapes64.BACKGROUNDS[background]
    for kind, colour, s, cx, cy in objects:
        r0 = max(0, int((cy - s) * ss)); r1 = min(64 * ss, int(math.ceil((cy + s) * ss)) + 1)
        c0 = max(0, int((cx - s) * ss)); c1 = min(64 * ss, int(math.ceil((cx + s) * ss)) + 1)
        m = shapes64.coverage_mask(kind, s, cx, cy, shapes64.SAMPLE_X[r0:r1, c0:c1],
                                   shapes64.SAMPLE_Y[r0:r1, c0:c1])
        img[r0:r1, c0:c1][m] = shapes64.COLOURS[colour]
    small = img.reshape(64, ss, 64, ss, 3).sum(axis=(1, 3)) / (ss * ss)
    return np.floor(small + 0.5).astype(np.uint8)


def _scene_json(sc):
    d = dict(sc)
    d["objects"] = [list(o) for o in sc["objects"]]
    return d


def _scene_from_json(d):
    d = dict(d)
    d["objects"] = [tuple(o) for o in d["objects"]]
    return d


def build_pool(path, n, split, seed, chunk=2000, log=print):
    """Render n scenes of split into path (.npz-like pair: path.npy images, path.json scenes).
    Resumable: finished chunks are kept in path.partNNN.* files."""
    if os.path.exists(path + ".npy") and os.path.exists(path + ".json"):
        return
    parts = []
    for c, start in enumerate(range(0, n, chunk)):
        part = "%s.part%03d" % (path, c)
        parts.append(part)
        if os.path.exists(part + ".json"):
            continue
        rng = random.Random(seed * 1000003 + c)
        m = min(chunk, n - start)
        imgs = np.empty((m, 64, 64, 3), np.uint8)
        scenes = []
        t0 = time.time()
        for i in range(m):
            sc = shapes64.sample_scene(rng, split)
            imgs[i] = render_fast(sc["background"], sc["objects"])
            scenes.append(_scene_json(sc))
        np.save(part + ".npy", imgs)
        with open(part + ".json.tmp", "w") as f:
            json.dump(scenes, f)
        os.replace(part + ".json.tmp", part + ".json")
        log("pool %s: chunk %d (%d images) in %.0f s" % (os.path.basename(path), c, m, time.time() - t0))
    imgs = np.concatenate([np.load(p + ".npy") for p in parts])
    scenes = []
    for p in parts:
        with open(p + ".json") as f:
            scenes += json.load(f)
    np.save(path + ".npy.tmp.npy", imgs)
    os.replace(path + ".npy.tmp.npy", path + ".npy")
    with open(path + ".json.tmp", "w") as f:
        json.dump(scenes, f)
    os.replace(path + ".json.tmp", path + ".json")
    for p in parts:
        os.remove(p + ".npy")
        os.remove(p + ".json")


def load_pool(path):
    imgs = np.load(path + ".npy", mmap_mode=None)
    with open(path + ".json") as f:
        scenes = [_scene_from_json(d) for d in json.load(f)]
    return imgs, scenes


BG_INDEX = {name: i for i, name in enumerate(shapes64.BACKGROUNDS)}
BG_RGB = np.array(list(shapes64.BACKGROUNDS.values()), np.float32) / 255.0


# ---------------------------------------------------------------------------------------
# VQ autoencoder

class VQEncoder(nn.Module):
    """64×64×3 in [0,1] → (B, CodeDim, 16, 16): conv_in, per level ResBlocks then a stride-2
    conv (all levels but the last), a middle ResBlock, GroupNorm, swish, 1×1 conv to CodeDim."""

    def __init__(self, enc, vq):
        super().__init__()
        cfg = dict(Groups=vq["Groups"], Eps=vq["Eps"])
        ch = [enc["Base"] * m for m in enc["ChannelMult"]]
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        layers = []
        cin = ch[0]
        for i, c in enumerate(ch):
            for _ in range(enc["ResBlocks"]):
                layers.append(reference_vqgan.ResnetBlock(cin, c, cfg))
                cin = c
            if i < len(ch) - 1:
                layers.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        layers.append(reference_vqgan.ResnetBlock(cin, cin, cfg))
        self.body = nn.Sequential(*layers)
        self.norm_out = nn.GroupNorm(vq["Groups"], cin, eps=vq["Eps"])
        self.conv_out = nn.Conv2d(cin, vq["CodeDim"], 1)

    def forward(self, x):
        h = self.body(self.conv_in(x))
        return self.conv_out(reference_vqgan.swish(self.norm_out(h)))


class CodeEmbedding(nn.Module):
    """Drop-in for the detokenizer's `embedding` (state-dict name embedding.weight): integer
    tokens are looked up; a float (B, H, W, D) tensor of (straight-through) code vectors
    passes through, so Detokenizer.forward decodes continuous codes during training."""

    def __init__(self, n, d):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n, d), requires_grad=False)

    def forward(self, x):
        if x.dtype in (torch.int64, torch.int32):
            return F.embedding(x, self.weight)
        return x


class VQAutoencoder(nn.Module):
    """Encoder → EMA codebook (the detokenizer's embedding.weight) → Detokenizer."""

    def __init__(self, vq=VQ_CONFIG, enc=VQ_ENCODER, decay=0.99):
        super().__init__()
        self.vq = dict(vq)
        self.encoder = VQEncoder(enc, vq)
        self.detok = reference_vqgan.Detokenizer(dict(vq))
        self.detok.embedding = CodeEmbedding(vq["Codebook"], vq["CodeDim"])
        self.decay = decay
        k, d = vq["Codebook"], vq["CodeDim"]
        self.register_buffer("ema_count", torch.ones(k))
        self.register_buffer("ema_sum", self.detok.embedding.weight.data.clone())
        self.register_buffer("initialised", torch.zeros(()))
        self.register_buffer("usage", torch.zeros(k))  # per-code use counts, decayed ×0.97 per step

    @property
    def codebook(self):
        return self.detok.embedding.weight

    def quantize(self, z):
        """z (B, D, H, W) → indices (B, H, W), flat z (N, D)."""
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        e = self.codebook
        dist = (flat * flat).sum(1, keepdim=True) - 2 * flat @ e.t() + (e * e).sum(1)[None]
        mind, idx = dist.min(1)
        self._last_err = mind.detach().clamp_min(0)  # squared quantisation error per vector
        return idx.view(b, h, w), flat

    @torch.no_grad()
    def _ema_update(self, flat, idx):
        e = self.codebook
        k = e.shape[0]
        if self.initialised.item() == 0:  # start from random encoder outputs
            pick = flat[torch.randint(0, flat.shape[0], (k,), device=flat.device)]
            e.data.copy_(pick)
            self.ema_sum.copy_(pick)
            self.ema_count.fill_(1.0)
            self.initialised.fill_(1.0)
            return
        onehot_count = torch.bincount(idx, minlength=k).float()
        sums = torch.zeros_like(e).index_add_(0, idx, flat)
        self.ema_count.mul_(self.decay).add_(onehot_count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        self.usage.mul_(0.97).add_(onehot_count)
        n = self.ema_count.sum()
        count = (self.ema_count + 1e-5) / (n + k * 1e-5) * n  # Laplace smoothing
        e.data.copy_(self.ema_sum / count[:, None])

    @torch.no_grad()
    def restart_dead(self, flat, threshold=0.5):
        """Codes whose decayed use count (×0.97 per step, so ≈ 33 × uses per step) is below
        `threshold` jump to encoder outputs of the current batch drawn with probability
        proportional to their squared quantisation error (k-means++ style: most vectors are
        plain background, and uniform draws would spend the restarts there), plus a little
        noise. Returns the number restarted."""
        dead = (self.usage < threshold).nonzero()[:, 0]
        if len(dead) == 0:
            return 0
        err = getattr(self, "_last_err", None)
        if err is not None and err.shape[0] == flat.shape[0] and err.sum() > 0:
            pick = flat[torch.multinomial(err, len(dead), replacement=True)]
        else:
            pick = flat[torch.randint(0, flat.shape[0], (len(dead),), device=flat.device)]
        pick = pick + 0.01 * pick.std() * torch.randn_like(pick)
        self.codebook.data[dead] = pick
        self.ema_sum[dead] = pick
        self.ema_count[dead] = 1.0
        self.usage[dead] = threshold * 2  # grace period
        return len(dead)

    def forward(self, x):
        """x (B,3,64,64) in [0,1] → raw reconstruction (B,3,64,64), commitment loss, indices, flat z."""
        z = self.encoder(x)
        idx, flat = self.quantize(z)
        if self.training:
            self._ema_update(flat.detach(), idx.view(-1))
        q = F.embedding(idx, self.codebook)                   # (B,H,W,D)
        zq = z.permute(0, 2, 3, 1)
        commit = F.mse_loss(zq, q.detach())
        st_codes = zq + (q - zq).detach()                      # straight-through
        return self.detok(st_codes), commit, idx, flat

    @torch.no_grad()
    def encode(self, x):
        return self.quantize(self.encoder(x))[0]

    @torch.no_grad()
    def decode(self, idx):
        return self.detok(idx)


def object_mask(x, bg_rgb):
    """x (B,3,H,W) in [0,1], bg_rgb (B,3) each scene's background in [0,1]: 1 where a pixel's
    L1 distance to its background exceeds 0.06 (an object pixel), else 0; (B,1,H,W)."""
    return ((x - bg_rgb[:, :, None, None]).abs().sum(1, keepdim=True) > 0.06).float()


def vq_rec_loss(rec, x, obj, object_weight):
    """The VQ stage's pixel loss: mean of w·(|d| + d²), d = rec − x, w = 1 + object_weight·obj."""
    d = rec - x
    return ((1 + object_weight * obj) * (d.abs() + d * d)).mean()


def to_input(imgs_u8, device):
    """(B,64,64,3) uint8 numpy → (B,3,64,64) float in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(imgs_u8)).to(device).permute(0, 3, 1, 2).float() / 255.0


def to_uint8(raw):
    """The engine's post-processing: clip(x,0,1)·255 then truncation → (B,64,64,3) uint8."""
    return (raw.permute(0, 2, 3, 1).clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()


# ---------------------------------------------------------------------------------------
# Transformer (min-dalle names)

class LayerNorm(nn.LayerNorm):
    """nn.LayerNorm computed in float32 whatever its input (bf16 under CPU autocast, where
    PyTorch 1.13 would refuse a bf16 input with fp32 weights); same state-dict names."""

    def forward(self, x):
        return F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps)


class Attention(nn.Module):
    def __init__(self, e, heads):
        super().__init__()
        self.heads = heads
        self.k_proj = nn.Linear(e, e, bias=False)
        self.v_proj = nn.Linear(e, e, bias=False)
        self.q_proj = nn.Linear(e, e, bias=False)
        self.out_proj = nn.Linear(e, e, bias=False)

    def forward(self, x, kv, bias):
        """x (B,Nq,E), kv (B,Nk,E), bias additive, broadcastable to (B,H,Nq,Nk)."""
        b, nq, e = x.shape
        nk, h = kv.shape[1], self.heads
        d = e // h
        q = (self.q_proj(x) / math.sqrt(d)).view(b, nq, h, d).transpose(1, 2)
        k = self.k_proj(kv).view(b, nk, h, d).transpose(1, 2)
        v = self.v_proj(kv).view(b, nk, h, d).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(2, 3) + bias, -1)
        return self.out_proj((p @ v).transpose(1, 2).reshape(b, nq, e))


class GLU(nn.Module):
    def __init__(self, e, g, eps):
        super().__init__()
        self.ln0 = LayerNorm(e, eps=eps)
        self.ln1 = LayerNorm(g, eps=eps)
        self.fc0 = nn.Linear(e, g, bias=False)
        self.fc1 = nn.Linear(e, g, bias=False)
        self.fc2 = nn.Linear(g, e, bias=False)

    def forward(self, x):
        z = self.ln0(x)
        return self.fc2(self.ln1(F.gelu(self.fc0(z)) * self.fc1(z)))


class EncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        e, eps = c["width"], c["layer_norm_eps"]
        self.pre_self_attn_layer_norm = LayerNorm(e, eps=eps)
        self.self_attn = Attention(e, c["heads"])
        self.self_attn_layer_norm = LayerNorm(e, eps=eps)
        self.glu = GLU(e, c["glu"], eps)

    def forward(self, x, bias):
        y = self.pre_self_attn_layer_norm(x)
        x = x + self.self_attn_layer_norm(self.self_attn(y, y, bias))
        return x + self.glu(x)


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        e, eps = c["width"], c["layer_norm_eps"]
        self.pre_self_attn_layer_norm = LayerNorm(e, eps=eps)
        self.self_attn = Attention(e, c["heads"])
        self.self_attn_layer_norm = LayerNorm(e, eps=eps)
        self.pre_encoder_attn_layer_norm = LayerNorm(e, eps=eps)
        self.encoder_attn = Attention(e, c["heads"])
        self.encoder_attn_layer_norm = LayerNorm(e, eps=eps)
        self.glu = GLU(e, c["glu"], eps)

    def forward(self, x, enc, self_bias, cross_bias):
        y = self.pre_self_attn_layer_norm(x)
        x = x + self.self_attn_layer_norm(self.self_attn(y, y, self_bias))
        y = self.pre_encoder_attn_layer_norm(x)
        x = x + self.encoder_attn_layer_norm(self.encoder_attn(y, enc, cross_bias))
        return x + self.glu(x)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        e = c["width"]
        self.embed_tokens = nn.Embedding(c["text_vocab"], e)
        self.embed_positions = nn.Embedding(c["text_len"], e)
        self.layernorm_embedding = LayerNorm(e, eps=c["layer_norm_eps"])
        self.layers = nn.ModuleList([EncoderLayer(c) for _ in range(c["encoder_layers"])])
        self.final_ln = LayerNorm(e, eps=c["layer_norm_eps"])

    def forward(self, text):
        """text (B,T) int64 → (B,T,E); keys equal to text_pad are masked."""
        bias = ((text == self.c["text_pad"]).float() * MASK)[:, None, None, :]
        pos = torch.arange(text.shape[1], device=text.device)
        x = self.layernorm_embedding(self.embed_tokens(text) + self.embed_positions(pos))
        for layer in self.layers:
            x = layer(x, bias)
        return self.final_ln(x)


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        e = c["width"]
        self.embed_tokens = nn.Embedding(c["image_vocab"] + 1, e)
        self.embed_positions = nn.Embedding(c["image_tokens"], e)
        self.layernorm_embedding = LayerNorm(e, eps=c["layer_norm_eps"])
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c["decoder_layers"])])
        self.final_ln = LayerNorm(e, eps=c["layer_norm_eps"])
        self.lm_head = nn.Linear(e, c["image_vocab"] + 1, bias=False)

    def forward(self, prev, enc, text):
        """Teacher forcing: prev (B,N) fed tokens (prev[:,0] = BOS), enc (B,T,E) →
        logits (B,N,Vi+1); position i sees fed tokens 0..i (causal)."""
        n = prev.shape[1]
        pos = torch.arange(n, device=prev.device)
        x = self.layernorm_embedding(self.embed_tokens(prev) + self.embed_positions(pos))
        causal = torch.ones(n, n, device=prev.device).triu(1) * MASK          # j > i masked
        cross = ((text == self.c["text_pad"]).float() * MASK)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, enc, causal, cross)
        return self.lm_head(self.final_ln(x))


class TextToImage(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = dict(c)
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        self.reset_parameters()

    def reset_parameters(self, std=0.02):
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=std)
            # LayerNorm weights 1, biases 0 (PyTorch defaults)
        # residual-branch output projections scaled down (GPT-2 style)
        scale = 1 / math.sqrt(2 * (self.c["encoder_layers"] + self.c["decoder_layers"]))
        for name, p in self.named_parameters():
            if name.endswith("out_proj.weight") or name.endswith("fc2.weight"):
                p.data.mul_(scale)

    def forward(self, text, prev):
        return self.decoder(prev, self.encoder(text), text)

    def split_state_dicts(self):
        """(encoder state dict, decoder state dict) with min-dalle names."""
        return ({k: v.detach() for k, v in self.encoder.state_dict().items()},
                {k: v.detach() for k, v in self.decoder.state_dict().items()})


def param_count(m):
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------------------------------
# Training utilities: checkpoints, signals, loss logs

class Stopper:
    """Sets .stop on SIGINT/SIGTERM so the loop can checkpoint and exit cleanly."""

    def __init__(self):
        import signal
        self.stop = False
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, self._handler)

    def _handler(self, signum, frame):
        if self.stop:  # second signal: exit now
            raise KeyboardInterrupt
        self.stop = True


def save_ckpt(path, obj):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_ckpt(path):
    if not os.path.exists(path):
        return None
    return torch.load(path, map_location="cpu")


def plot_losses(path, series, title):
    """series: {name: (steps, values)} → PNG (matplotlib). Without matplotlib it warns and
    returns: a finished run is not lost to a missing plotting library (the losses stay in the
    checkpoint, and rerunning the script after installing it draws the curve)."""
    try:
        import matplotlib
    except ImportError:
        print("warning: %s not drawn: no matplotlib (apt-get install -y python3-matplotlib); "
              "the losses are in the checkpoint's logs" % path, file=sys.stderr, flush=True)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (x, y) in series.items():
        if len(x):
            ax.plot(x, y, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=90)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


def adamw(model, lr, wd):
    """The transformer's optimizer: AdamW (β 0.9, 0.98), weight decay on matrices only."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))


def tf_train_step(model, opt, text, target, autocast):
    """One teacher-forced step: the decoder is fed [BOS, target[:, :-1]] and predicts target;
    cross-entropy over all logits (in fp32), gradient clipping at 1.0. autocast is a context
    manager for the forward pass (bf16 autocast or a null context). Returns the loss."""
    bos = torch.full((target.shape[0], 1), model.c["image_bos"], dtype=torch.long, device=target.device)
    with autocast:
        logits = model(text, torch.cat([bos, target[:, :-1]], 1))
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


def score_summary(verdicts, scenes, with_size=False):
    """shapes64.score verdicts of scenes → {"n", "attributes": {attr: accuracy}, "types": {scene
    type (with "/size" if with_size): share fully right}, "type_counts"}."""
    from collections import Counter
    attr, tot, bt, btn = Counter(), Counter(), Counter(), Counter()
    for v, sc in zip(verdicts, scenes):
        for k, ok in v.items():
            attr[k] += bool(ok)
            tot[k] += 1
        key = sc["type"] + ("/" + sc.get("size", "") if with_size else "")
        bt[key] += bool(v["all"])
        btn[key] += 1
    return {"n": len(scenes), "attributes": {k: attr[k] / tot[k] for k in sorted(tot)},
            "types": {k: bt[k] / btn[k] for k in sorted(btn)}, "type_counts": dict(btn)}


def cosine_lr(step, total, peak, warmup, floor=0.1):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


# ---------------------------------------------------------------------------------------
# Sampling (spec §7) with a KV cache, for evaluation in Python

@torch.no_grad()
def generate(model, text_rows, temperature=1.0, top_k=64, factor=1.0, generator=None):
    """text_rows (B,T) int64 prompts → image tokens (B, image_tokens).

    Each prompt is paired with the empty prompt; logits mix as
    l_uncond·(1 − f) + l_cond·f (supercondition, f = factor), keep m ≥ the top_k-th largest,
    subtract the max, divide by the temperature, exp, torch.multinomial. The first
    VQGAN-codebook (= image_vocab) logits are sampled, so the BOS row is never drawn."""
    c = model.c
    b = text_rows.shape[0]
    dev = text_rows.device
    empty = torch.full_like(text_rows, c["text_pad"])
    empty[:, 0], empty[:, 1] = text_rows[:, 0], 2  # [BOS, EOS, PAD…]
    text = torch.cat([empty, text_rows])                                    # (2B,T): uncond first
    enc = model.encoder(text)
    d = model.decoder
    cross_bias = ((text == c["text_pad"]).float() * MASK)[:, None, None, :]
    cross_kv = [(l.encoder_attn.k_proj(enc), l.encoder_attn.v_proj(enc)) for l in d.layers]
    heads, e = c["heads"], c["width"]
    hd = e // heads

    def split(x):
        return x.view(x.shape[0], -1, heads, hd).transpose(1, 2)

    def attend(attn, y, k, v, bias):
        q = split(attn.q_proj(y) / math.sqrt(hd))
        p = torch.softmax(q @ split(k).transpose(2, 3) + bias, -1)
        return attn.out_proj((p @ split(v)).transpose(1, 2).reshape(y.shape[0], 1, e))

    cache_k = [[] for _ in d.layers]
    cache_v = [[] for _ in d.layers]
    prev = torch.full((2 * b,), c["image_bos"], dtype=torch.long, device=dev)
    out = []
    k_codes = c["image_vocab"]
    for i in range(c["image_tokens"]):
        pos = torch.tensor([i], device=dev)
        x = d.layernorm_embedding(d.embed_tokens(prev)[:, None] + d.embed_positions(pos))
        for li, layer in enumerate(d.layers):
            y = layer.pre_self_attn_layer_norm(x)
            cache_k[li].append(layer.self_attn.k_proj(y))
            cache_v[li].append(layer.self_attn.v_proj(y))
            a = attend(layer.self_attn, y, torch.cat(cache_k[li], 1), torch.cat(cache_v[li], 1), 0.0)
            x = x + layer.self_attn_layer_norm(a)
            y = layer.pre_encoder_attn_layer_norm(x)
            a = attend(layer.encoder_attn, y, cross_kv[li][0], cross_kv[li][1], cross_bias)
            x = x + layer.encoder_attn_layer_norm(a)
            x = x + layer.glu(x)
        logits = d.lm_head(d.final_ln(x))[:, 0, :k_codes]
        m = logits[:b] * (1 - factor) + logits[b:] * factor
        srt = m.sort(-1, descending=True).values
        keep = m >= srt[:, top_k - 1:top_k] if top_k > 0 else torch.ones_like(m, dtype=torch.bool)
        w = ((m - srt[:, :1]) / temperature).exp() * keep
        tok = torch.multinomial(w, 1, generator=generator)[:, 0]
        out.append(tok)
        prev = tok.repeat(2)
    return torch.stack(out, 1)
