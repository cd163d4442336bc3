"""Check the shapes64 scorer on ground-truth renders: it must be right on every one.

    /usr/bin/python3 training/check_scorer.py [N] [SEED]

Draws N scenes (half train, half held-out), renders them, scores each against its own
full caption and prints the number of images, objects and failures per attribute.
Exit status 1 if any ground-truth image fails.
"""
import random
import sys
import time
from collections import Counter

import shapes64


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 12345
    rng = random.Random(seed)
    fails, objects, bad, types = Counter(), 0, 0, Counter()
    t0 = time.time()
    for i in range(n):
        scene = shapes64.sample_scene(rng, "train" if i % 2 == 0 else "heldout")
        text, asserted = shapes64.caption(scene)
        img = shapes64.render(scene["background"], scene["objects"])
        verdict = shapes64.score(img, asserted)
        objects += len(scene["objects"])
        types[scene["type"]] += 1
        if not verdict["all"]:
            bad += 1
            fails.update(k for k, v in verdict.items() if not v)
            print("FAIL:", text, verdict, scene["objects"])
    print(f"{n} images ({dict(types)}), {objects} objects, {bad} failed {dict(fails)}, "
          f"{time.time() - t0:.0f} s")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
