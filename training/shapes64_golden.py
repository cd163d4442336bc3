"""Write testdata/shapes64/golden.{json,safetensors}: scenes rendered, captioned and parsed
by the Python reference, for the Go port's parity test.

    /usr/bin/python3 training/shapes64_golden.py
"""
import json
import os
import random

import torch

import shapes64
import st

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    rng = random.Random(2026)
    out, images = [], []
    for i in range(24):
        scene = shapes64.sample_scene(rng, "train" if i % 3 else "heldout")
        text, asserted = shapes64.caption(scene)
        img = shapes64.render(scene["background"], scene["objects"])
        bg, objs = shapes64.parse(img)
        out.append({
            "scene": {k: v for k, v in scene.items() if k != "objects"},
            "objects": [list(o) for o in scene["objects"]],
            "caption": text, "asserted": asserted,
            "parsed_background": bg,
            "parsed": [{k: (float(v) if k in ("cx", "cy") else v) for k, v in o.items()} for o in objs],
            "verdict": {k: bool(v) for k, v in shapes64.score(img, asserted).items()},
        })
        images.append(torch.from_numpy(img.copy()))
    d = os.path.join(ROOT, "testdata", "shapes64")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(out, f, indent=1)
    st.save(os.path.join(d, "golden.safetensors"), {"images": torch.stack(images)})


if __name__ == "__main__":
    main()
