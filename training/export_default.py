"""Export the default model: one safetensors file for the Go engine, plus golden tensors.

    /usr/bin/python3 training/export_default.py --run training/runs/default \\
        [--out training/runs/default/default.safetensors] \\
        [--golden testdata/golden/default_model.safetensors] [--dtype auto|f16|f32] \\
        [--temperature T --top-k K --supercondition F --candidates C] [--judge RUN/judge.pt [--judge-self-weight W]
        [--critic RUN/critic.pt --critic-weight C]]

Model file (≤ 20 MB, checked):
  encoder.*   min-dalle encoder tensors (spec §3 names)             from RUN/tf.pt
  decoder.*   min-dalle decoder tensors incl. lm_head.weight          from RUN/tf.pt
  vqgan.*     the detokenizer: embedding.weight (the codebook), post_quant_conv.*, decoder.*
              (reference_vqgan / min-dalle names)                      from RUN/vq.pt
  judge.*     with --judge: the candidate-ranking judge (train_judge.py names), fp16
  critic.*    with --critic: the critic that finds objects cut by the border (train_critic.py names,
              without its training-only bias), fp16
  metadata    config            the Go model.Config as JSON (vqgan nested, Go field names)
              judge.config      with --judge: the judge's config as JSON
              judge.self_weight with --judge-self-weight: w in the ranking score
                                log p(prompt | image) + w·(the self-score, model.CandidateScore)
              critic.config     with --critic: the critic's config as JSON
              judge.critic_weight with --critic-weight: c, adding c·(the critic's score) to that
              tokenizer.vocab   the bytes of RUN/vocab.json
              tokenizer.merges  the bytes of RUN/merges.txt
              plus provenance: steps, dtypes, the fp16 checks, torch version.
The tokenizer is stored in the metadata (not beside the file) so that the one embedded file
is the whole model.

dtype: with --dtype auto each part (transformer, VQGAN) is stored as F16 when rounding its
weights to fp16 changes its outputs negligibly (transformer: mean |Δ cross-entropy| < 0.005
nats and ≥ 99.5 % same arg-max on 16 held-out teacher-forced sequences; VQGAN: ≤ 1 uint8
level on ≥ 99.9 % of pixels and never more than 8 on 16 held-out token maps), else F32.

Golden file (small, for the Go parity test; computed in float32 from the *exported* weights,
i.e. after fp16 rounding, with the independent reference implementations
reference_model.py and reference_vqgan.py, and cross-checked against default_model):
  text_tokens (2,T) int64         row 0 the empty prompt, row 1 --prompt
  encoder_state (2,T,E) f32
  tf_tokens (S,1) int64           fed tokens: BOS, then the first S−1 codes of a held-out image
  tf_logits (S,2,Vi+1) f32        decoder logits per step (row 0 unconditioned, row 1 the prompt)
  vqgan_tokens (16,16) int64      that image's token map
  vqgan_raw (1,3,64,64) f32       detokenizer output before clipping
  vqgan_u8 (64,64,3) uint8        clip(x,0,1)·255 truncated
metadata: prompt, config, model_sha256 (of the model file the goldens belong to).
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default_model as dm  # noqa: E402
import reference_vqgan  # noqa: E402
import st  # noqa: E402

MAX_BYTES = 20 * 1000 * 1000


def rounded(sd, dtype):
    return {k: v.to(dtype).to(torch.float32) for k, v in sd.items()}


def fp16_ranker(name, cls, path, score):
    """A ranking network (cls) from the checkpoint at path, in float32, with the check of storing it
    in fp16: how far score(net) moves when its weights are rounded. Returns (checkpoint, net, check)."""
    ck = dm.load_ckpt(path)
    if ck is None:
        sys.exit("no %s checkpoint at %s" % (name, path))
    m, r = cls(ck["config"]), cls(ck["config"])
    m.load_state_dict(ck["model"])
    r.load_state_dict(rounded(m.state_dict(), torch.float16))
    m.eval()
    r.eval()
    a, b = score(m), score(r)
    check = {"max_abs_delta_score": (a - b).abs().max().item(), "max_abs_score": a.abs().max().item()}
    print("fp16 check, %s:" % name, check)
    return ck, m, check


def tf_check(cfg, enc_sd, dec_sd, text, target):
    """Teacher-forced logits with fp32 vs fp16-rounded weights."""
    def run(e, d):
        m = dm.TextToImage(cfg)
        m.encoder.load_state_dict(e)
        m.decoder.load_state_dict(d)
        m.eval()
        bos = torch.full((target.shape[0], 1), cfg["image_bos"], dtype=torch.long)
        with torch.no_grad():
            return m(text, torch.cat([bos, target[:, :-1]], 1))
    a = run(enc_sd, dec_sd)
    b = run(rounded(enc_sd, torch.float16), rounded(dec_sd, torch.float16))
    ce = lambda l: torch.nn.functional.cross_entropy(l.reshape(-1, l.shape[-1]), target.reshape(-1),
                                                     reduction="none")
    dce = (ce(a) - ce(b)).abs().mean().item()
    same = (a.argmax(-1) == b.argmax(-1)).float().mean().item()
    return {"mean_abs_delta_ce": dce, "argmax_agreement": same, "max_abs_logit_diff": (a - b).abs().max().item(),
            "ce_fp32": ce(a).mean().item()}


def vq_check(vq_cfg, sd, tokens):
    def run(s):
        d = reference_vqgan.Detokenizer(dict(vq_cfg))
        d.load_state_dict(s)
        d.eval()
        with torch.no_grad():
            return dm.to_uint8(d(tokens)).astype(np.int32)
    a, b = run(sd), run(rounded(sd, torch.float16))
    diff = np.abs(a - b)
    return {"max_u8_diff": int(diff.max()), "frac_within_1": float((diff <= 1).mean()),
            "mean_u8_diff": float(diff.mean())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=os.path.join(dm.HERE, "runs", "default"))
    ap.add_argument("--out", default="")
    ap.add_argument("--golden", default=os.path.join(dm.HERE, "..", "testdata", "golden",
                                                     "default_model.safetensors"))
    ap.add_argument("--dtype", default="auto", choices=["auto", "f16", "f32"])
    ap.add_argument("--prompt", default="a red star above a blue ring")
    ap.add_argument("--golden-steps", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=None,
                    help="sampling default stored as metadata defaults.temperature (from training/sweep_sampling.sh)")
    ap.add_argument("--top-k", type=int, default=None, help="sampling default defaults.top_k")
    ap.add_argument("--supercondition", type=float, default=None, help="sampling default defaults.supercondition")
    ap.add_argument("--candidates", type=int, default=None,
                    help="default defaults.candidates: images sampled per image returned (the engine keeps the one its judge, "
                         "or without one its own token probabilities, ranks first), 1-16")
    ap.add_argument("--judge", help="a train_judge.py checkpoint (RUN/judge.pt): store that judge in the file (judge.*, fp16)")
    ap.add_argument("--critic", help="a train_critic.py checkpoint (RUN/critic.pt): store that critic in the file (critic.*, fp16)")
    ap.add_argument("--critic-weight", type=float, default=None,
                    help="judge.critic_weight: c in the ranking score judge + w·self-score + c·critic score (≥ 0)")
    ap.add_argument("--judge-self-weight", type=float, default=None,
                    help="judge.self_weight: w in the ranking score log p(prompt | image) + w·self-score (≥ 0)")
    args = ap.parse_args()
    if args.judge_self_weight is not None and (not args.judge or not 0 <= args.judge_self_weight < float("inf")):
        ap.error("--judge-self-weight needs --judge and a finite value ≥ 0")
    if args.critic and not args.judge:
        ap.error("--critic needs --judge (its score joins the judge's)")
    if args.critic_weight is not None and (not args.critic or not 0 <= args.critic_weight < float("inf")):
        ap.error("--critic-weight needs --critic and a finite value ≥ 0")
    if args.candidates is not None and not 1 <= args.candidates <= 16:
        ap.error("--candidates must be between 1 and 16")
    out = args.out or os.path.join(args.run, "default.safetensors")
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)

    vq_ck = dm.load_ckpt(os.path.join(args.run, "vq.pt"))
    tf_ck = dm.load_ckpt(os.path.join(args.run, "tf.pt"))
    if vq_ck is None or tf_ck is None:
        sys.exit("need RUN/vq.pt and RUN/tf.pt")
    # finetune_detok.py trains the detokenizer alone: the encoder (so the tokens) is that of
    # tokens_from_step, while step counts the detokenizer's extra steps too
    if tf_ck.get("vq_step") != vq_ck.get("tokens_from_step", vq_ck["step"]):
        print("warning: the transformer was trained on tokens of VQ step %s, vq.pt's encoder is at step %d" % (
            tf_ck.get("vq_step"), vq_ck.get("tokens_from_step", vq_ck["step"])))
    for name, ck in (("vq", vq_ck), ("tf", tf_ck)):
        if not ck.get("done"):
            print("warning: %s checkpoint (step %d) is not finished" % (name, ck["step"]))
    vq_cfg, cfg = vq_ck["vq_config"], tf_ck["config"]
    ae = dm.VQAutoencoder(vq_cfg, vq_ck["vq_encoder"])
    ae.load_state_dict(vq_ck["model"])
    ae.eval()
    vq_sd = {k: v.detach().clone() for k, v in ae.detok.state_dict().items()}
    model = dm.TextToImage(cfg)
    model.load_state_dict(tf_ck["model"])
    model.eval()
    enc_sd, dec_sd = model.split_state_dicts()
    tok = dm.Tokenizer(args.run)
    with open(os.path.join(args.run, "vocab.json"), encoding="utf8") as f:
        vocab_text = f.read()
    with open(os.path.join(args.run, "merges.txt"), encoding="utf8") as f:
        merges_text = f.read()

    # fp16 checks on held-out pool data
    himgs, hscenes = dm.load_pool(os.path.join(args.run, "pool_heldout"))
    htok = ae.encode(dm.to_input(himgs[:16], "cpu"))                       # (16,16,16)
    import random
    import shapes64
    rng = random.Random(5)
    text = torch.tensor([tok.row(shapes64.caption(s, rng)[0], cfg["text_len"]) for s in hscenes[:16]])
    tfc = tf_check(cfg, enc_sd, dec_sd, text, htok.view(16, -1))
    vqc = vq_check(vq_cfg, vq_sd, htok)
    print("fp16 check, transformer:", tfc)
    print("fp16 check, VQGAN:", vqc)
    tf_f16 = args.dtype == "f16" or (args.dtype == "auto" and tfc["mean_abs_delta_ce"] < 0.005
                                     and tfc["argmax_agreement"] >= 0.995)
    vq_f16 = args.dtype == "f16" or (args.dtype == "auto" and vqc["frac_within_1"] >= 0.999
                                     and vqc["max_u8_diff"] <= 8)
    tdt = torch.float16 if tf_f16 else torch.float32
    vdt = torch.float16 if vq_f16 else torch.float32

    tensors = {}
    tensors.update({"encoder." + k: v.to(tdt) for k, v in enc_sd.items()})
    tensors.update({"decoder." + k: v.to(tdt) for k, v in dec_sd.items()})
    tensors.update({"vqgan." + k: v.to(vdt) for k, v in vq_sd.items()})
    judge_meta = {}
    if args.judge:
        # the judge that ranks best-of-K candidates (train_judge.py), stored in fp16
        import train_judge
        jimg = dm.to_input(himgs[:16], "cpu")

        def jscore(net):
            text = torch.tensor([tok.row(shapes64.caption(s, random.Random(9))[0], net.c["text_len"])
                                 for s in hscenes[:16]])
            return net(net.image_memory(jimg), text)[0]
        jck, jm, jc = fp16_ranker("judge", train_judge.Judge, args.judge, jscore)
        tensors.update({"judge." + k: v.detach().to(torch.float16) for k, v in jm.state_dict().items()})
        judge_meta = {"judge.config": json.dumps(jck["config"], sort_keys=True), "judge_step": str(jck["step"]),
                      "fp16_check.judge": json.dumps(jc)}
        if args.judge_self_weight is not None:
            judge_meta["judge.self_weight"] = repr(args.judge_self_weight)
    if args.critic:
        # the critic (train_critic.py), stored in fp16; its training-only bias is dropped
        import train_critic
        cimg = dm.to_input(himgs[:16], "cpu")
        cck, cm, cc = fp16_ranker("critic", train_critic.Critic, args.critic, lambda net: net(cimg))
        tensors.update({"critic." + k: v.detach().to(torch.float16) for k, v in cm.exported().items()})
        judge_meta.update({"critic.config": json.dumps(cck["config"], sort_keys=True), "critic_step": str(cck["step"]),
                           "fp16_check.critic": json.dumps(cc)})
        if args.critic_weight is not None:
            judge_meta["judge.critic_weight"] = repr(args.critic_weight)
    go_cfg = dm.go_config(cfg, vq_cfg)
    meta = {"config": json.dumps(go_cfg), "tokenizer.vocab": vocab_text, "tokenizer.merges": merges_text,
            "generator": "training/export_default.py", "torch": torch.__version__,
            "vq_step": str(vq_ck["step"]), "tf_step": str(tf_ck["step"]),
            "dtype.transformer": "F16" if tf_f16 else "F32", "dtype.vqgan": "F16" if vq_f16 else "F32",
            "fp16_check.transformer": json.dumps(tfc), "fp16_check.vqgan": json.dumps(vqc)}
    meta.update(judge_meta)
    for key, val in (("defaults.temperature", args.temperature), ("defaults.top_k", args.top_k),
                     ("defaults.supercondition", args.supercondition), ("defaults.candidates", args.candidates)):
        if val is not None:
            meta[key] = repr(val)
    ev = os.path.join(args.run, "vq_eval.json")
    if os.path.exists(ev):
        with open(ev) as f:
            meta["vq_eval"] = f.read()
    st.save(out, tensors, meta)
    size = os.path.getsize(out)
    n_params = sum(v.numel() for v in tensors.values())
    print("wrote %s: %d bytes, %d tensors, %d parameters (transformer %s, VQGAN %s)" % (
        out, size, len(tensors), n_params, meta["dtype.transformer"], meta["dtype.vqgan"]))
    print("config:", meta["config"])
    if size > MAX_BYTES:
        sys.exit("model file is %d bytes, over the %d limit" % (size, MAX_BYTES))
    with open(out, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()

    # ---- golden tensors, from the exported (rounded) weights
    loaded, _ = st.load(out)
    e32 = {k[len("encoder."):]: v.float() for k, v in loaded.items() if k.startswith("encoder.")}
    d32 = {k[len("decoder."):]: v.float() for k, v in loaded.items() if k.startswith("decoder.")}
    v32 = {k[len("vqgan."):]: v.float() for k, v in loaded.items() if k.startswith("vqgan.")}
    T = cfg["text_len"]
    text = torch.tensor([tok.empty_row(T), tok.row(args.prompt, T)], dtype=torch.long)
    steps = args.golden_steps
    fed = torch.cat([torch.tensor([cfg["image_bos"]]), htok[0].reshape(-1)[:steps - 1]]).view(steps, 1)
    # our nn.Module
    m = dm.TextToImage(cfg)
    m.encoder.load_state_dict(e32)
    m.decoder.load_state_dict(d32)
    m.eval()
    state = m.encoder(text)
    ours = m.decoder(fed[:, 0].view(1, -1).repeat(2, 1), state, text)      # (2,S,V)
    ours = ours.permute(1, 0, 2)                                          # (S,2,V)
    try:
        import reference_model as ref
        rcfg = dict(cfg, codebook=vq_cfg["Codebook"])
        rstate = ref.encode(e32, rcfg, text)
        run = ref.DecoderRun(d32, rcfg, rstate, text, 1)
        rlog = torch.stack([run.step(fed[i], i) for i in range(steps)])    # (S,2,V)
        print("reference_model vs default_model: encoder max|Δ| %.2e, logits max|Δ| %.2e (max|logit| %.1f)" % (
            (rstate - state).abs().max().item(), (rlog - ours).abs().max().item(), rlog.abs().max().item()))
        if (rlog - ours).abs().max().item() > 1e-3 * max(1.0, rlog.abs().max().item()):
            sys.exit("reference_model and default_model disagree")
        state, logits = rstate, rlog
    except ImportError as err:
        print("reference_model not importable (%s): goldens from default_model only" % err)
        logits = ours
    det = reference_vqgan.Detokenizer(dict(vq_cfg))
    det.load_state_dict(v32)  # strict: the exported names are exactly the detokenizer's
    det.eval()
    vtok = htok[0].to(torch.long)
    raw = det(vtok.unsqueeze(0))
    mine = ae.detok(vtok.unsqueeze(0)) if not vq_f16 else None
    if mine is not None:
        print("VQGAN export vs training module max|Δ| %.2e" % (raw - mine).abs().max().item())
    golden = {"text_tokens": text, "encoder_state": state.contiguous(), "tf_tokens": fed,
              "tf_logits": logits.contiguous(), "vqgan_tokens": vtok, "vqgan_raw": raw.contiguous(),
              "vqgan_u8": torch.from_numpy(dm.to_uint8(raw)[0])}
    os.makedirs(os.path.dirname(os.path.abspath(args.golden)), exist_ok=True)
    st.save(args.golden, golden, {"prompt": args.prompt, "config": json.dumps(go_cfg), "model_sha256": sha,
                                  "generator": "training/export_default.py"})
    print("wrote %s: %d bytes (model sha256 %s)" % (args.golden, os.path.getsize(args.golden), sha))


if __name__ == "__main__":
    main()
