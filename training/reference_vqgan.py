"""Reference VQGAN detokenizer of min-dalle's family, and the golden file for model/vqgan.

This is an independent PyTorch implementation (state-dict names identical to
min-dalle's VQGanDetokenizer), generalised by a config like the Go
vqgan.Config: codebook, code dim, base channels x per-level multipliers, res
blocks per level, attention levels, GroupNorm groups and eps.

Running it writes testdata/golden/vqgan.safetensors: the random weights of a
reduced config, the token maps, every intermediate stage of image 0, the raw
outputs, the uint8 grid (min-dalle's post-processing) and a seamless and a
non-square decode. Run with /usr/bin/python3 (torch 1.13.1):

    /usr/bin/python3 training/reference_vqgan.py [--out testdata/golden/vqgan.safetensors]
"""
import argparse
import json
import math
import os
import sys

import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

# min-dalle's detokenizer in this config's terms (spec section 8).
MIN_DALLE = dict(Codebook=16384, CodeDim=256, Base=128, ChannelMult=[1, 1, 2, 2, 4],
                 ResBlocks=3, AttnLevels=[4], Groups=32, Eps=1e-5)

# The reduced config of the golden file: 4 levels (upscale 8), 2 res blocks
# per level, attention at the lowest-resolution level, 8 groups.
GOLDEN = dict(Codebook=64, CodeDim=16, Base=16, ChannelMult=[1, 1, 2, 2],
              ResBlocks=2, AttnLevels=[3], Groups=8, Eps=1e-5)


def swish(x):
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    """x -> s(x) + conv2(swish(norm2(conv1(swish(norm1(x))))))."""

    def __init__(self, cin, cout, cfg):
        super().__init__()
        self.norm1 = nn.GroupNorm(cfg["Groups"], cin, eps=cfg["Eps"])
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(cfg["Groups"], cout, eps=cfg["Eps"])
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if hasattr(self, "nin_shortcut"):
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions, scale 1/sqrt(C)."""

    def __init__(self, c, cfg):
        super().__init__()
        self.norm = nn.GroupNorm(cfg["Groups"], c, eps=cfg["Eps"])
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, hh, ww = x.shape
        h = self.norm(x)
        q = self.q(h).reshape(b, c, hh * ww)
        k = self.k(h).reshape(b, c, hh * ww)
        v = self.v(h).reshape(b, c, hh * ww)
        s = torch.bmm(q.transpose(1, 2), k)        # (b, N queries, N keys)
        s = s / c ** 0.5
        p = torch.softmax(s, dim=2)
        o = torch.bmm(v, p.transpose(1, 2))        # o[c, i] = sum_j v[c, j] p[i, j]
        return x + self.proj_out(o.reshape(b, c, hh, ww))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UpLevel(nn.Module):
    def __init__(self, cin, cout, attention, upsample, cfg):
        super().__init__()
        self.block = nn.ModuleList(
            [ResnetBlock(cin if j == 0 else cout, cout, cfg) for j in range(cfg["ResBlocks"])])
        if attention:
            self.attn = nn.ModuleList([AttnBlock(cout, cfg) for _ in range(cfg["ResBlocks"])])
        if upsample:
            self.upsample = Upsample(cout)


class Middle(nn.Module):
    def __init__(self, c, cfg):
        super().__init__()
        self.block_1 = ResnetBlock(c, c, cfg)
        self.attn_1 = AttnBlock(c, cfg)
        self.block_2 = ResnetBlock(c, c, cfg)


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = [cfg["Base"] * m for m in cfg["ChannelMult"]]
        levels = len(ch)
        self.conv_in = nn.Conv2d(cfg["CodeDim"], ch[-1], 3, padding=1)
        self.mid = Middle(ch[-1], cfg)
        self.up = nn.ModuleList([
            UpLevel(ch[min(i + 1, levels - 1)], ch[i], i in cfg["AttnLevels"], i > 0, cfg)
            for i in range(levels)])
        self.norm_out = nn.GroupNorm(cfg["Groups"], ch[0], eps=cfg["Eps"])
        self.conv_out = nn.Conv2d(ch[0], 3, 3, padding=1)


class Detokenizer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg["Codebook"], cfg["CodeDim"])
        self.post_quant_conv = nn.Conv2d(cfg["CodeDim"], cfg["CodeDim"], 1)
        self.decoder = Decoder(cfg)

    def forward(self, tokens, trace=None):
        """tokens (b, rows, cols) int64 -> raw image (b, 3, rows*U, cols*U), before clipping.

        trace(name, tensor) is called after every stage with the same names as
        the Go vqgan.Hook."""
        def emit(name, z):
            if trace is not None:
                trace(name, z)
            return z

        d = self.decoder
        z = emit("embedding", self.embedding(tokens).permute(0, 3, 1, 2).contiguous())
        z = emit("post_quant_conv", self.post_quant_conv(z))
        z = emit("conv_in", d.conv_in(z))
        z = emit("mid.block_1", d.mid.block_1(z))
        z = emit("mid.attn_1", d.mid.attn_1(z))
        z = emit("mid.block_2", d.mid.block_2(z))
        for i in reversed(range(len(d.up))):
            lv = d.up[i]
            for j, block in enumerate(lv.block):
                z = emit(f"up.{i}.block.{j}", block(z))
                if hasattr(lv, "attn"):
                    z = emit(f"up.{i}.attn.{j}", lv.attn[j](z))
            if hasattr(lv, "upsample"):
                z = emit(f"up.{i}.upsample", lv.upsample(z))
        z = emit("norm_out", swish(d.norm_out(z)))
        return emit("conv_out", d.conv_out(z))


def to_pixels(raw):
    """min-dalle's post-processing: NCHW -> NHWC, clip(0, 1) * 255 in float32."""
    return raw.permute(0, 2, 3, 1).clip(0.0, 1.0) * 255


def grid(images, g):
    """(g*g, H, W, 3) -> (g*H, g*W, 3): image a*g+b at row block b, column block a."""
    n, hh, ww, c = images.shape
    return images.view(g, g, hh, ww, c).flatten(1, 2).transpose(1, 0).flatten(1, 2)


def seamless_tokens(tokens, g):
    """(g*g, r, c) token maps -> one (g*r, g*c) map with the same column-major placement."""
    n, r, c = tokens.shape
    return tokens.view(g, g, r, c).flatten(1, 2).transpose(1, 0).flatten(1, 2)


def randomise(model, gen):
    """Random weights that keep activations O(1) and make the image use the
    whole [0, 1] range with some clipping; GroupNorm affine terms random too."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "embedding.weight":
                p.copy_(torch.randn(p.shape, generator=gen))
            elif ".norm" in name and name.endswith(".weight"):
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=gen))
            elif ".norm" in name and name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif name == "decoder.conv_out.weight":   # keep most pixels inside (0, 1)
                p.copy_(0.4 * torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel()))
            elif name.endswith(".weight"):
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
            elif name == "decoder.conv_out.bias":
                p.copy_(0.5 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "testdata", "golden", "vqgan.safetensors"))
    ap.add_argument("--seed", type=int, default=20261128)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    gen = torch.Generator().manual_seed(args.seed)

    cfg = GOLDEN
    model = Detokenizer(cfg).eval()
    randomise(model, gen)
    out = {k: v.clone() for k, v in model.state_dict().items()}

    g, r, c = 2, 4, 4
    tokens = torch.randint(0, cfg["Codebook"], (g * g, r, c), generator=gen)
    stages = {}

    def record(name, z):
        if name not in stages:
            stages[name] = z[0].clone()

    raw = model(tokens, trace=record)                      # (4, 3, 32, 32)
    pix = to_pixels(raw)
    grid_u8 = grid(pix, g).to(torch.uint8)                 # truncation, as generate_image
    seam = seamless_tokens(tokens, g)
    seam_raw = model(seam.unsqueeze(0))[0]                 # (3, 64, 64)
    seam_u8 = to_pixels(seam_raw.unsqueeze(0))[0].to(torch.uint8)
    rect = torch.randint(0, cfg["Codebook"], (3, 5), generator=gen)
    rect_raw = model(rect.unsqueeze(0))[0]                 # (3, 24, 40)

    out["golden.tokens"] = tokens
    for name, z in stages.items():
        out["golden.stage." + name] = z
    out["golden.raw"] = raw
    out["golden.grid_u8"] = grid_u8
    out["golden.seamless.raw"] = seam_raw
    out["golden.seamless.u8"] = seam_u8
    out["golden.rect.tokens"] = rect
    out["golden.rect.raw"] = rect_raw

    # The float32 noise floor: the same network in float64.
    m64 = Detokenizer(cfg).double().eval()
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    stages64 = {}
    m64(tokens, trace=lambda n, z: stages64.setdefault(n, z[0].clone()))
    for name, z in stages.items():
        ref = stages64[name]
        err = (z.double() - ref).abs().max().item()
        print(f"{name:20s} shape {tuple(z.shape)} max|x| {ref.abs().max().item():8.3f} "
              f"fp32-vs-fp64 max abs err {err:.2e}")
    p = pix.flatten()
    print(f"pixels: {(p == 0).float().mean():.1%} clipped at 0, {(p == 255).float().mean():.1%} at 255")

    meta = {"config": json.dumps(cfg), "seed": str(args.seed), "torch": torch.__version__,
            "generator": "training/reference_vqgan.py"}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    st.save(args.out, out, meta)
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes, {len(out)} tensors")


if __name__ == "__main__":
    main()
