"""Turn a model file (the embedded default.safetensors, or any export_default.py output) back into
the training checkpoints it was exported from, so that training can go on from the shipped model
and a new export can carry the same judge and critic.

    /usr/bin/python3 training/unpack_default.py --run training/runs/shipped
    /usr/bin/python3 training/unpack_default.py --model FILE.safetensors --vq VQ.pt --run RUN

RUN receives:
  vocab.json, merges.txt     the tokenizer stored in the file;
  tf.pt                      the transformer (train_transformer.py / import_gpu_run.py format), fp32;
  tf_init.safetensors        the same weights for train_gpu.py --tf-init (fp16, config and step);
  vq.pt, vq_eval.json        the VQ autoencoder: --vq (the file holds only the detokenizer, not the
                             encoder that made the transformer's tokens), after checking that its
                             detokenizer, rounded as the file stores it, is the file's exactly;
  judge.pt, critic.pt        the ranking networks, when the file has them (train_judge.py /
                             train_critic.py format; the critic's training-only bias is 0);
  pool_heldout.{npy,json}    --heldout held-out-split scenes (seed --heldout-seed) for
                             export_default.py's fp16 checks and golden tokens, unless RUN has one;
  export_flags.txt           the file's sampling defaults and ranking weights as export_default.py
                             flags (one line, e.g. "--supercondition 1.25 --top-k 8 …").

The weights are the file's, widened to fp32: export_default.py --run RUN with the file's settings
(RUN/export_flags.txt) writes the same tensors again
(checked on the shipped file: all 314 equal; only the fp16 checks in the metadata differ, as the
weights are already rounded).
Optimizer states and loss logs are not in a model file; training resumes with a fresh optimizer.
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import default_model as dm  # noqa: E402
import st  # noqa: E402


# metadata key → the export_default.py flag that writes it
EXPORT_FLAGS = {"defaults.supercondition": "--supercondition", "defaults.top_k": "--top-k",
                "defaults.temperature": "--temperature", "defaults.candidates": "--candidates",
                "judge.self_weight": "--judge-self-weight", "judge.critic_weight": "--critic-weight"}


def part(tensors, prefix):
    """The tensors under prefix, without it, as fp32."""
    return {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "generator", "local", "defaultmodel",
                                                    "default.safetensors"))
    ap.add_argument("--vq", default=os.path.join(HERE, "checkpoints", "vq_gpu.pt"),
                    help="the VQ checkpoint whose encoder made the transformer's tokens")
    ap.add_argument("--run", required=True, help="output folder (created)")
    ap.add_argument("--heldout", type=int, default=256, help="held-out pool scenes to render (0: none)")
    ap.add_argument("--heldout-seed", type=int, default=2)
    args = ap.parse_args()
    torch.set_grad_enabled(False)

    tensors, meta = st.load(args.model)
    for key in ("config", "tokenizer.vocab", "tokenizer.merges", "tf_step", "vq_step"):
        if key not in meta:
            sys.exit("%s: no %r in the metadata (not an export_default.py model file)" % (args.model, key))
    go_cfg = json.loads(meta["config"])
    vq_cfg = go_cfg.pop("vqgan")
    cfg = go_cfg  # the transformer's training config is the Go config without its "vqgan" part
    os.makedirs(args.run, exist_ok=True)
    for name, key in (("vocab.json", "tokenizer.vocab"), ("merges.txt", "tokenizer.merges")):
        with open(os.path.join(args.run, name), "w", encoding="utf8") as f:
            f.write(meta[key])

    # transformer
    model = dm.TextToImage(cfg)
    model.encoder.load_state_dict(part(tensors, "encoder."))  # strict: names and shapes must match
    model.decoder.load_state_dict(part(tensors, "decoder."))
    tf_step, vq_step = int(meta["tf_step"]), int(meta["vq_step"])
    dm.save_ckpt(os.path.join(args.run, "tf.pt"), {
        "model": model.state_dict(), "step": tf_step, "config": cfg, "done": True,
        "logs": {"step": [], "loss": [], "val_step": [], "val_loss": []},  # not in a model file
        "vq_step": vq_step, "imported_from": "unpack_default.py " + os.path.basename(args.model)})
    st.save(os.path.join(args.run, "tf_init.safetensors"),
            {k: v.half() for k, v in model.state_dict().items()},
            {"config": json.dumps(cfg), "step": str(tf_step)})

    # VQ: the file's detokenizer must be the checkpoint's, as export_default.py stores it
    vq_ck = dm.load_ckpt(args.vq)
    if vq_ck is None:
        sys.exit("no VQ checkpoint at " + args.vq)
    if vq_ck["vq_config"] != vq_cfg:
        sys.exit("%s's VQ config %s differs from the file's %s" % (args.vq, vq_ck["vq_config"], vq_cfg))
    ae = dm.VQAutoencoder(vq_ck["vq_config"], vq_ck["vq_encoder"])
    ae.load_state_dict(vq_ck["model"])
    want = part(tensors, "vqgan.")
    dt = torch.float16 if meta.get("dtype.vqgan") == "F16" else torch.float32
    got = {k: v.to(dt).float() for k, v in ae.detok.state_dict().items()}
    if set(got) != set(want) or any(not torch.equal(got[k], want[k]) for k in want):
        sys.exit("%s's detokenizer is not the one in %s" % (args.vq, args.model))
    if vq_ck.get("tokens_from_step", vq_ck["step"]) != vq_step:
        sys.exit("%s is VQ step %s, the file's transformer was trained on step %d" % (
            args.vq, vq_ck.get("tokens_from_step", vq_ck["step"]), vq_step))
    dm.save_ckpt(os.path.join(args.run, "vq.pt"), vq_ck)
    if "vq_eval" in meta:  # export_default.py copies RUN/vq_eval.json into the file's metadata
        with open(os.path.join(args.run, "vq_eval.json"), "w") as f:
            f.write(meta["vq_eval"])

    # ranking networks
    wrote = ["vocab.json", "merges.txt", "tf.pt", "tf_init.safetensors", "vq.pt"]
    if "judge.config" in meta:
        import train_judge
        jcfg = json.loads(meta["judge.config"])
        judge = train_judge.Judge(jcfg)
        judge.load_state_dict(part(tensors, "judge."))
        dm.save_ckpt(os.path.join(args.run, "judge.pt"), {
            "model": judge.state_dict(), "step": int(meta["judge_step"]), "config": jcfg,
            "imported_from": "unpack_default.py " + os.path.basename(args.model)})
        wrote.append("judge.pt")
    if "critic.config" in meta:
        import train_critic
        ccfg = json.loads(meta["critic.config"])
        critic = train_critic.Critic(ccfg)
        sd = part(tensors, "critic.")
        sd["bias"] = torch.zeros(())  # used in training only; not exported
        critic.load_state_dict(sd)
        dm.save_ckpt(os.path.join(args.run, "critic.pt"), {
            "model": critic.state_dict(), "step": int(meta["critic_step"]), "config": ccfg, "done": True,
            "imported_from": "unpack_default.py " + os.path.basename(args.model)})
        wrote.append("critic.pt")

    pool = os.path.join(args.run, "pool_heldout")
    if args.heldout > 0 and not os.path.exists(pool + ".npy"):
        dm.build_pool(pool, args.heldout, "heldout", args.heldout_seed)
        wrote.append("pool_heldout.{npy,json}")
    flags = " ".join("%s %s" % (f, meta[k]) for k, f in EXPORT_FLAGS.items() if k in meta)
    with open(os.path.join(args.run, "export_flags.txt"), "w") as f:
        f.write(flags + "\n")
    wrote.append("export_flags.txt")
    print("unpacked %s (transformer step %d, VQ step %d) into %s: %s" % (
        args.model, tf_step, vq_step, args.run, ", ".join(wrote)))
    print("its settings:", flags)


if __name__ == "__main__":
    main()
