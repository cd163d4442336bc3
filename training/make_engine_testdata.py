"""Write testdata/engine/: a tiny complete model (tokenizer, encoder, decoder, VQGAN) saved
both as torch.save .pt files in min-dalle's folder layout and as flat .safetensors, plus the
PyTorch references' end-to-end outputs for the Go engine tests (generator/local):

  - image tokens under torch.manual_seed(seed) for one image and for a 2×2 grid,
  - the uint8 image (one image, and the 2×2 grid laid out column-major),

computed with training/reference_model.py and training/reference_vqgan.py. Some LayerNorm
weights are left out of the checkpoints (they must default to 1).

    /usr/bin/python3 training/make_engine_testdata.py
"""
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_model as rm  # noqa: E402
import reference_vqgan as rv  # noqa: E402
import st  # noqa: E402

ROOT = os.path.join(HERE, "..")
OUT = os.path.join(ROOT, "testdata", "engine")

CFG = dict(text_vocab=600, text_len=64, text_pad=1, width=64, heads=1, glu=64,
           encoder_layers=1, decoder_layers=1, image_vocab=64, image_tokens=256,
           image_bos=63, layer_norm_eps=1e-5, codebook=64)
VQ = {"Codebook": 64, "CodeDim": 16, "Base": 16, "ChannelMult": [1, 2], "ResBlocks": 1,
      "AttnLevels": [1], "Groups": 8, "Eps": 1e-5}
DROPPED = ["encoder.final_ln.weight", "decoder.layers.0.glu.ln0.weight"]
PROMPT_IDS_NOTE = "the Go test tokenizes the prompt with testdata/tokenizer's files"


def tokenize(prompt):
    """Tokenize with min-dalle's rules through the Go-independent Python copy in min-dalle.

    The committed golden ids of testdata/tokenizer prove the Go tokenizer equals min-dalle's;
    here we use a tiny re-implementation good for plain ASCII words only."""
    vocab = json.load(open(os.path.join(ROOT, "testdata", "tokenizer", "vocab.json")))
    merges = open(os.path.join(ROOT, "testdata", "tokenizer", "merges.txt"), encoding="utf8").read().split("\n")[1:-1]
    ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
    ids = [vocab["<s>"]]
    for word in prompt.lower().split(" "):
        if not word:
            continue
        syms = ["Ġ"] + list(word)
        while len(syms) > 1:
            pairs = [(ranks.get((a, b), 1 << 60), i) for i, (a, b) in enumerate(zip(syms, syms[1:]))]
            r, i = min(pairs)
            if r == 1 << 60:
                break
            syms = syms[:i] + [syms[i] + syms[i + 1]] + syms[i + 2:]
        ids += [vocab.get(s, vocab["<unk>"]) for s in syms]
    return ids + [vocab["</s>"]]


def text_rows(ids, n):
    t = torch.ones(2, n, dtype=torch.long)
    ids = ids[:n]
    t[0, 0], t[0, 1] = ids[0], ids[-1]
    t[1, :len(ids)] = torch.tensor(ids)
    return t


def main():
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)
    enc, dec = rm.random_weights(CFG, seed=99)
    rm.drop(enc, dec, DROPPED)
    vq = rv.Detokenizer(VQ).eval()
    rv.randomise(vq, torch.Generator().manual_seed(5))
    vsd = {k: v.clone() for k, v in vq.state_dict().items()}

    enc_saved = {k: v for k, v in enc.items() if "encoder." + k not in DROPPED}
    dec_saved = {k: v for k, v in dec.items() if "decoder." + k not in DROPPED}

    shutil.rmtree(OUT, ignore_errors=True)
    mdir = os.path.join(OUT, "pt", "dalle_bart_mini")
    os.makedirs(mdir)
    os.makedirs(os.path.join(OUT, "pt", "vqgan"))
    flat = os.path.join(OUT, "safetensors")
    os.makedirs(flat)
    for d in (mdir, flat):
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(ROOT, "testdata", "tokenizer", f), d)
    torch.save(enc_saved, os.path.join(mdir, "encoder.pt"))
    torch.save(dec_saved, os.path.join(mdir, "decoder.pt"))
    torch.save(vsd, os.path.join(OUT, "pt", "vqgan", "detoker.pt"))
    st.save(os.path.join(flat, "encoder.safetensors"), enc_saved)
    st.save(os.path.join(flat, "decoder.safetensors"), dec_saved)
    st.save(os.path.join(flat, "detoker.safetensors"), vsd)
    # The VQGAN config cannot be inferred from tensor names alone (levels with attention,
    # groups, ε): a config.json beside the weights says it.
    vq_json = {"vqgan": VQ}
    for d in (mdir, flat):
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(vq_json, f)

    prompt = "a red star above a blue ring"
    rows = text_rows(tokenize(prompt), CFG["text_len"])
    out = {"text_rows": rows}
    for name, n, seed, g in (("single", 1, 7, 1), ("grid", 4, 11, 2)):
        toks = rm.generate(enc, dec, CFG, rows, n, seed, 1.0, 16, 4.0)  # (n, 256)
        raw = vq(toks.view(n, 16, 16))                                   # (n, 3, 32, 32)
        pix = rv.to_pixels(raw)
        img = rv.grid(pix, g).to(torch.uint8) if g > 1 else pix[0].to(torch.uint8)
        out[name + ".tokens"] = toks
        out[name + ".image"] = img
    st.save(os.path.join(OUT, "golden.safetensors"), out,
            {"prompt": prompt, "temperature": "1", "top_k": "16", "supercondition": "4",
             "single.seed": "7", "grid.seed": "11", "generator": "training/make_engine_testdata.py"})
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT}: {total} bytes")


if __name__ == "__main__":
    main()
