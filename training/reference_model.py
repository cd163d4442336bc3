"""Independent PyTorch reference of the min-dalle transformer (spec §5–§7) and
the golden-file writer for package model.

This is our own implementation, written from /work/shared/mindalle-spec.md,
using min-dalle's state-dict names so that the same weight files load into
min-dalle's modules (a scratch cross-check did that; see the model package
report). It is not imported by anything; run it by hand:

    /usr/bin/python3 training/reference_model.py --out testdata/golden

It writes
  transformer_weights.safetensors  encoder.* and decoder.* fp32 weights of a
                                   small random config (some LayerNorm weights
                                   and one bias deliberately left out),
  transformer.safetensors          tensors the Go tests compare against,
                                   with the config as JSON in the metadata.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

MASK = -1e12  # min-dalle's additive mask bias

# The golden config: head width 64 like min-dalle, everything else small.
CONFIG = dict(
    text_vocab=100, text_len=64, text_pad=1, width=128, heads=2, glu=96,
    encoder_layers=2, decoder_layers=2, image_vocab=256, image_tokens=256,
    image_bos=255, layer_norm_eps=1e-5, codebook=256,
)

# Tensors left out of the saved checkpoint: the loader must default a
# LayerNorm weight to 1 and a bias to 0 (spec §3, strict=False).
DROPPED = [
    "encoder.final_ln.weight",
    "encoder.layers.0.glu.ln0.weight",
    "encoder.layers.1.pre_self_attn_layer_norm.weight",
    "decoder.final_ln.weight",
    "decoder.layers.0.glu.ln1.weight",
    "decoder.layers.1.pre_encoder_attn_layer_norm.weight",
    "decoder.layers.1.glu.ln0.bias",
]


# ----------------------------------------------------------------------------
# weights

def _ln(sd, prefix, width, g):
    sd[prefix + ".weight"] = 1 + 0.1 * torch.randn(width, generator=g)
    sd[prefix + ".bias"] = 0.1 * torch.randn(width, generator=g)


def _lin(sd, name, out, inp, g):
    sd[name] = torch.randn(out, inp, generator=g) / math.sqrt(inp)


def _attn(sd, prefix, e, g):
    for k in ("k_proj", "v_proj", "q_proj", "out_proj"):
        _lin(sd, f"{prefix}.{k}.weight", e, e, g)


def _glu(sd, prefix, e, gw, g):
    _ln(sd, prefix + ".ln0", e, g)
    _ln(sd, prefix + ".ln1", gw, g)
    _lin(sd, prefix + ".fc0.weight", gw, e, g)
    _lin(sd, prefix + ".fc1.weight", gw, e, g)
    _lin(sd, prefix + ".fc2.weight", e, gw, g)


def random_weights(cfg, seed):
    """Random encoder and decoder state dicts (min-dalle names), LayerNorm
    weights and biases randomised too so that affine bugs show."""
    g = torch.Generator().manual_seed(seed)
    e, gw = cfg["width"], cfg["glu"]
    enc = {}
    enc["embed_tokens.weight"] = torch.randn(cfg["text_vocab"], e, generator=g)
    enc["embed_positions.weight"] = torch.randn(cfg["text_len"], e, generator=g)
    _ln(enc, "layernorm_embedding", e, g)
    for l in range(cfg["encoder_layers"]):
        p = f"layers.{l}"
        _ln(enc, p + ".pre_self_attn_layer_norm", e, g)
        _attn(enc, p + ".self_attn", e, g)
        _ln(enc, p + ".self_attn_layer_norm", e, g)
        _glu(enc, p + ".glu", e, gw, g)
    _ln(enc, "final_ln", e, g)
    dec = {}
    dec["embed_tokens.weight"] = torch.randn(cfg["image_vocab"] + 1, e, generator=g)
    dec["embed_positions.weight"] = torch.randn(cfg["image_tokens"], e, generator=g)
    _ln(dec, "layernorm_embedding", e, g)
    for l in range(cfg["decoder_layers"]):
        p = f"layers.{l}"
        _ln(dec, p + ".pre_self_attn_layer_norm", e, g)
        _attn(dec, p + ".self_attn", e, g)
        _ln(dec, p + ".self_attn_layer_norm", e, g)
        _ln(dec, p + ".pre_encoder_attn_layer_norm", e, g)
        _attn(dec, p + ".encoder_attn", e, g)
        _ln(dec, p + ".encoder_attn_layer_norm", e, g)
        _glu(dec, p + ".glu", e, gw, g)
    _ln(dec, "final_ln", e, g)
    _lin(dec, "lm_head.weight", cfg["image_vocab"] + 1, e, g)
    return enc, dec


def drop(enc, dec, names):
    """Remove names (prefixed encoder./decoder.) and set the in-memory
    values to what a strict=False load leaves: LayerNorm weight 1, bias 0."""
    for full in names:
        part, name = full.split(".", 1)
        sd = enc if part == "encoder" else dec
        sd[name] = torch.ones_like(sd[name]) if name.endswith(".weight") else torch.zeros_like(sd[name])


# ----------------------------------------------------------------------------
# layers

def layer_norm(sd, prefix, x, eps):
    return F.layer_norm(x, x.shape[-1:], sd[prefix + ".weight"], sd[prefix + ".bias"], eps)


def attention(q, k, v, key_ok, heads):
    """q (B,Nq,E), k/v (B,Nk,E), key_ok bool broadcastable to (B,1,Nq,Nk).
    Scores get −1e12 (float32) where key_ok is false."""
    b, nq, e = q.shape
    d = e // heads
    q = q.reshape(b, nq, heads, d) / math.sqrt(d)
    k = k.reshape(b, k.shape[1], heads, d)
    v = v.reshape(b, v.shape[1], heads, d)
    s = torch.einsum("bqhc,bkhc->bhqk", q, k)
    s = s + (1 - key_ok.to(torch.float32)) * MASK
    p = torch.softmax(s, -1)
    return torch.einsum("bhqk,bkhc->bqhc", p, v).reshape(b, nq, e)


def glu(sd, prefix, x, eps):
    z = layer_norm(sd, prefix + ".ln0", x, eps)
    w = F.gelu(z @ sd[prefix + ".fc0.weight"].T)  # exact erf GELU
    v = z @ sd[prefix + ".fc1.weight"].T
    return layer_norm(sd, prefix + ".ln1", w * v, eps) @ sd[prefix + ".fc2.weight"].T


def encode(enc, cfg, text):
    """text (2,T) int64 -> encoder state (2,T,E)."""
    eps, h = cfg["layer_norm_eps"], cfg["heads"]
    key_ok = (text != cfg["text_pad"])[:, None, None, :]
    x = enc["embed_tokens.weight"][text] + enc["embed_positions.weight"][torch.arange(text.shape[1])]
    x = layer_norm(enc, "layernorm_embedding", x, eps)
    for l in range(cfg["encoder_layers"]):
        p = f"layers.{l}"
        r = x
        y = layer_norm(enc, p + ".pre_self_attn_layer_norm", x, eps)
        a = attention(y @ enc[p + ".self_attn.q_proj.weight"].T, y @ enc[p + ".self_attn.k_proj.weight"].T,
                      y @ enc[p + ".self_attn.v_proj.weight"].T, key_ok, h)
        a = a @ enc[p + ".self_attn.out_proj.weight"].T
        x = r + layer_norm(enc, p + ".self_attn_layer_norm", a, eps)
        x = x + glu(enc, p + ".glu", x, eps)
    return layer_norm(enc, "final_ln", x, eps)


class DecoderRun:
    """Per-prompt decoder state with min-dalle's cache semantics: every step
    writes slot i of a zero-initialised (256-slot) cache and attends over
    all slots with −1e12 on slots j > i; cross-attention K/V are recomputed
    from the encoder state every step."""

    def __init__(self, dec, cfg, enc_state, text, n):
        self.dec, self.cfg, self.n = dec, cfg, n
        rows = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
        self.enc_state = enc_state[rows]                                      # (2n,T,E)
        self.cross_ok = (text != cfg["text_pad"])[rows][:, None, None, :]   # (2n,1,1,T)
        slots, e = cfg["image_tokens"], cfg["width"]
        self.k = torch.zeros(cfg["decoder_layers"], 2 * n, slots, e)
        self.v = torch.zeros(cfg["decoder_layers"], 2 * n, slots, e)

    def step(self, prev, i):
        """prev (n,) int64 -> logits (2n, Vi+1)."""
        d, cfg, eps, h = self.dec, self.cfg, self.cfg["layer_norm_eps"], self.cfg["heads"]
        prev = prev.repeat(2)
        x = d["embed_tokens.weight"][prev][:, None, :] + d["embed_positions.weight"][i]  # (2n,1,E)
        x = layer_norm(d, "layernorm_embedding", x, eps)
        self_ok = (torch.arange(cfg["image_tokens"]) <= i)[None, None, None, :]
        for l in range(cfg["decoder_layers"]):
            p = f"layers.{l}"
            r = x
            y = layer_norm(d, p + ".pre_self_attn_layer_norm", x, eps)
            self.k[l][:, i] = (y @ d[p + ".self_attn.k_proj.weight"].T)[:, 0]
            self.v[l][:, i] = (y @ d[p + ".self_attn.v_proj.weight"].T)[:, 0]
            a = attention(y @ d[p + ".self_attn.q_proj.weight"].T, self.k[l], self.v[l], self_ok, h)
            a = a @ d[p + ".self_attn.out_proj.weight"].T
            x = r + layer_norm(d, p + ".self_attn_layer_norm", a, eps)
            r = x
            y = layer_norm(d, p + ".pre_encoder_attn_layer_norm", x, eps)
            a = attention(y @ d[p + ".encoder_attn.q_proj.weight"].T,
                          self.enc_state @ d[p + ".encoder_attn.k_proj.weight"].T,
                          self.enc_state @ d[p + ".encoder_attn.v_proj.weight"].T, self.cross_ok, h)
            a = a @ d[p + ".encoder_attn.out_proj.weight"].T
            x = r + layer_norm(d, p + ".encoder_attn_layer_norm", a, eps)
            x = x + glu(d, p + ".glu", x, eps)
        x = layer_norm(d, "final_ln", x, eps)
        return (x @ d["lm_head.weight"].T)[:, 0]


# ----------------------------------------------------------------------------
# sampling (spec §7)

def weights_for(logits, n, codebook, temperature, top_k, f):
    """Unnormalised sampling weights (n, codebook), all float32."""
    s = torch.tensor([temperature, top_k, f], dtype=torch.float32)
    temperature, top_k, f = s[[0]], s[[1]].to(torch.long), s[[2]]
    l = logits[:, :codebook]
    m = l[:n] * (1 - f) + l[n:] * f
    srt, _ = m.sort(descending=True)
    keep = m >= srt[:, top_k - 1]
    m = m - srt[:, [0]]
    m = m / temperature
    return m.exp() * keep.to(torch.float32)


def sample_torch(logits, n, codebook, temperature, top_k, f):
    """What min-dalle does: torch.multinomial on the global generator."""
    return torch.multinomial(weights_for(logits, n, codebook, temperature, top_k, f), 1)[:, 0]


def sample_noise(logits, n, codebook, temperature, top_k, f, noise):
    """Same sample with explicit Exp(1) noise: argmax(w / E)."""
    w = weights_for(logits, n, codebook, temperature, top_k, f)
    return torch.argmax(w / noise, -1)


def generate(enc, dec, cfg, text, n, seed, temperature, top_k, f):
    """A full run: tokens (n, image_tokens) under torch.manual_seed(seed)."""
    state = encode(enc, cfg, text)
    run = DecoderRun(dec, cfg, state, text, n)
    torch.manual_seed(seed)
    prev = torch.full((n,), cfg["image_bos"], dtype=torch.long)
    out = []
    for i in range(cfg["image_tokens"]):
        logits = run.step(prev, i)
        prev = sample_torch(logits, n, cfg["codebook"], temperature, top_k, f)
        out.append(prev)
    return torch.stack(out, 1)


def tile(tokens, g, side):
    """Seamless tiling: map a·g+b at row block b, column block a."""
    t = tokens.reshape(g, g, side, side)        # [a, b, y, x]
    return t.permute(1, 2, 0, 3).reshape(g * side, g * side)


def go_config_json(cfg):
    c = {k: v for k, v in cfg.items() if k != "codebook"}
    c["vqgan"] = {"Codebook": cfg["codebook"]}
    return json.dumps(c, sort_keys=True)


# ----------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="testdata/golden")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)
    cfg = CONFIG
    enc, dec = random_weights(cfg, seed=20261128)
    saved = {f"encoder.{k}": v for k, v in enc.items()}
    saved.update({f"decoder.{k}": v for k, v in dec.items()})
    for name in DROPPED:
        del saved[name]
    drop(enc, dec, DROPPED)

    g = torch.Generator().manual_seed(7)
    out = {}
    # Text rows: row 0 the empty prompt [BOS, EOS, PAD...], row 1 a prompt.
    text = torch.ones(2, cfg["text_len"], dtype=torch.long)
    ids = torch.randint(3, cfg["text_vocab"], (21,), generator=g)
    text[0, :2] = torch.tensor([0, 2])
    text[1, 0], text[1, 1:22], text[1, 22] = 0, ids, 2
    out["text_tokens"] = text
    enc_state = encode(enc, cfg, text)
    out["encoder_state"] = enc_state

    # Teacher forcing: n = 2, 16 steps, recorded fed tokens.
    n, steps = 2, 16
    fed = torch.randint(0, cfg["codebook"], (steps, n), generator=g)
    fed[0] = cfg["image_bos"]
    fed[3, 1] = cfg["image_vocab"]  # the extra embedding row is a legal input
    run = DecoderRun(dec, cfg, enc_state, text, n)
    out["tf_tokens"] = fed
    out["tf_logits"] = torch.stack([run.step(fed[i], i) for i in range(steps)])  # (steps,2n,Vi+1)

    # Sampler cases: logits (2n, Vi+1), options, noise, tokens.
    cases = [(1.0, 64, 16.0), (1.0, 0, 1.0), (0.5, 1, 3.0), (2.0, 256, 0.0), (4.0, 5, 16.0), (1.0, 10, 2.0)]
    n = 3
    checks = 0
    for c, (temp, k, f) in enumerate(cases):
        logits = torch.randn(2 * n, cfg["image_vocab"] + 1, generator=g) * 2
        if c == len(cases) - 1:
            logits = torch.round(logits * 2) / 2  # many ties at the top-k threshold
        seed = 1000 + c
        torch.manual_seed(seed)
        tok = sample_torch(logits, n, cfg["codebook"], temp, k, f)
        torch.manual_seed(seed)
        noise = torch.empty(n, cfg["codebook"]).exponential_(1)
        tok2 = sample_noise(logits, n, cfg["codebook"], temp, k, f, noise)
        assert torch.equal(tok, tok2), (c, tok, tok2)  # multinomial == argmax(w/E)
        checks += 1
        out[f"sampler.{c}.logits"] = logits
        out[f"sampler.{c}.options"] = torch.tensor([temp, k, f], dtype=torch.float32)
        out[f"sampler.{c}.seed"] = torch.tensor([seed])
        out[f"sampler.{c}.noise"] = noise
        out[f"sampler.{c}.tokens"] = tok
    # More multinomial ≡ argmax(w/E) checks on random weights with zeros.
    for s in range(200):
        w = torch.rand(4, 300, generator=g) * (torch.rand(4, 300, generator=g) > 0.5)
        w[:, 0] += 1e-3
        torch.manual_seed(s)
        a = torch.multinomial(w, 1)[:, 0]
        torch.manual_seed(s)
        b = torch.argmax(w / torch.empty_like(w).exponential_(1), -1)
        assert torch.equal(a, b), s
        checks += 1
    print(f"multinomial == argmax(w/E): {checks} checks passed")

    # Full sampled runs under torch.manual_seed.
    for n, seed, (temp, k, f) in [(1, 7, (1.0, 64, 16.0)), (4, 11, (1.0, 32, 4.0))]:
        toks = generate(enc, dec, cfg, text, n, seed, temp, k, f)
        out[f"run{n}.tokens"] = toks
        out[f"run{n}.seed"] = torch.tensor([seed])
        out[f"run{n}.options"] = torch.tensor([temp, k, f], dtype=torch.float32)
    side = int(math.isqrt(cfg["image_tokens"]))
    out["run4.tiled"] = tile(out["run4.tokens"], 2, side)

    # Exponential draws of torch.empty(n).exponential_(1) after manual_seed.
    for s in (1, 42, 12345, 2**32 + 7):
        torch.manual_seed(s)
        out[f"exp.{s}"] = torch.empty(777).exponential_(1)

    os.makedirs(args.out, exist_ok=True)
    meta = {"config": go_config_json(cfg), "dropped": ",".join(DROPPED),
            "generator": "training/reference_model.py"}
    st.save(os.path.join(args.out, "transformer_weights.safetensors"), saved, meta)
    st.save(os.path.join(args.out, "transformer.safetensors"), out, meta)
    for f in ("transformer_weights.safetensors", "transformer.safetensors"):
        print(f, os.path.getsize(os.path.join(args.out, f)))


if __name__ == "__main__":
    main()
