"""Turn train_gpu.py's output folder into checkpoints export_default.py reads.

    /usr/bin/python3 training/import_gpu_run.py --from OUTDIR --run RUN [--pool-from training/runs/default]

Writes RUN/vq.pt and RUN/tf.pt (model weights, configs, steps, losses; no optimizer state,
so they are for export and evaluation, not for resuming), copies results.json to
RUN/gpu_results.json and RUN/vq_eval.json (the kept VQ's ground-truth scores, which
export_default.py stores in the model's metadata), and links the tokenizer files and the
held-out pool (export_default.py's fp16 checks use it) from --pool-from when RUN lacks them.
"""
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default_model as dm  # noqa: E402
import st  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="src", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--pool-from", default=os.path.join(dm.HERE, "runs", "default"))
    ap.add_argument("--continues", default="", help="RUN of the import this run's --tf-init came from: its "
                    "steps and losses are prepended, so tf.pt counts every step since the start")
    ap.add_argument("--write-init", default="", help="also write the transformer's weights, rounded to fp16, "
                    "to this safetensors file (train_gpu.py --tf-init; 16 MB)")
    args = ap.parse_args()
    os.makedirs(args.run, exist_ok=True)
    for name in ("vocab.json", "merges.txt", "pool_heldout.npy", "pool_heldout.json"):
        dst = os.path.join(args.run, name)
        if not os.path.exists(dst):
            src = os.path.join(args.pool_from, name)
            if not os.path.exists(src):
                sys.exit("%s missing and not in %s" % (name, args.pool_from))
            shutil.copyfile(src, dst)

    vq_sd, vq_meta = st.load(os.path.join(args.src, "vq_model.safetensors"))
    vq_cfg = json.loads(vq_meta["vq_config"])
    ae = dm.VQAutoencoder(vq_cfg, json.loads(vq_meta["vq_encoder"]))
    ae.load_state_dict(vq_sd)  # strict: the names and shapes are the training module's
    vq_step = int(vq_meta["step"])
    dm.save_ckpt(os.path.join(args.run, "vq.pt"), {
        "model": ae.state_dict(), "step": vq_step, "vq_config": vq_cfg,
        "vq_encoder": json.loads(vq_meta["vq_encoder"]), "done": True, "logs": {},
        "imported_from": "train_gpu.py"})
    with open(os.path.join(args.run, "vq_eval.json"), "w") as f:
        json.dump(json.loads(vq_meta["eval"]), f, indent=1)

    parts, meta, i = {}, None, 0
    while os.path.exists(os.path.join(args.src, "tf_part%d.safetensors" % i)):
        sd, m = st.load(os.path.join(args.src, "tf_part%d.safetensors" % i))
        parts.update(sd)
        if meta is not None and m["step"] != meta["step"]:
            sys.exit("tf parts from different steps (%s, %s)" % (meta["step"], m["step"]))
        meta = m
        i += 1
    if meta is None:
        sys.exit("no tf_part*.safetensors in " + args.src)
    cfg = json.loads(meta["config"])
    model = dm.TextToImage(cfg)
    model.load_state_dict(parts)  # strict
    if int(meta["vq_step"]) != vq_step:
        sys.exit("the transformer was trained on VQ step %s, vq_model is step %d" % (meta["vq_step"], vq_step))
    step, logs = int(meta["step"]), json.loads(meta["logs"])
    if args.continues:
        prev = dm.load_ckpt(os.path.join(args.continues, "tf.pt"))
        if prev is None:
            sys.exit("no tf.pt in " + args.continues)
        if prev["vq_step"] != vq_step:
            sys.exit("--continues was trained on VQ step %s, this run on %d" % (prev["vq_step"], vq_step))
        p, off = prev["logs"], prev["step"]
        logs = {"step": p["step"] + [s + off for s in logs["step"]], "loss": p["loss"] + logs["loss"],
                "val_step": p["val_step"] + [s + off for s in logs["val_step"][1:]],
                "val_loss": p["val_loss"] + logs["val_loss"][1:]}  # [1:]: step 0 repeats prev's last
        step += off
        print("continues %s: steps %d + %s" % (args.continues, off, meta["step"]))
    dm.save_ckpt(os.path.join(args.run, "tf.pt"), {
        "model": model.state_dict(), "step": step, "config": cfg, "logs": logs,
        "done": meta["done"] == "True", "vq_step": vq_step, "imported_from": "train_gpu.py"})
    if args.write_init:
        st.save(args.write_init, {k: v.half() for k, v in model.state_dict().items()},
                {"config": json.dumps(cfg), "step": str(step)})
    if logs.get("step"):
        dm.plot_losses(os.path.join(args.run, "tf_loss.png"),
                       {"train": (logs["step"], logs["loss"]),
                        "validation (held-out)": (logs["val_step"], logs["val_loss"])}, "transformer (GPU run)")
    res = os.path.join(args.src, "results.json")
    if os.path.exists(res):
        shutil.copyfile(res, os.path.join(args.run, "gpu_results.json"))
    print("imported VQ step %d and transformer step %d (%d parameters) into %s" % (
        vq_step, step, dm.param_count(model), args.run))


if __name__ == "__main__":
    main()
