"""shapes64: the procedural caption/image data set of the embedded default model.

The design is fixed in shared/default-model-design.md; this file is its reference
implementation (the Go port lives in eval/shapes64 and is checked against files this
script writes). Everything is deterministic given a seed.

Coordinates are in 64-px image units, x to the right, y down; pixel (i, j) covers
[j, j+1) × [i, i+1). Rendering draws each object at 4× (a 256×256 grid of sample
points at ((4j+b+0.5)/4, (4i+a+0.5)/4)) and box-downsamples: a pixel's value is
floor(mean of its 16 samples + 0.5).
"""
import math
import random

import numpy as np

KINDS = ["circle", "square", "triangle", "diamond", "star", "cross", "hexagon", "ring"]
PLURALS = {"cross": "crosses"}
COLOURS = {
    "red": (220, 40, 40), "orange": (245, 140, 30), "yellow": (240, 210, 40),
    "green": (40, 170, 60), "cyan": (40, 200, 210), "blue": (40, 80, 220),
    "purple": (140, 60, 190), "pink": (245, 130, 180),
}
COLOUR_NAMES = list(COLOURS)
BACKGROUNDS = {"white": (250, 250, 250), "black": (15, 15, 15), "gray": (128, 128, 128)}
SIZES = {"small": 10, "medium": 16, "large": 24}
POSITIONS = ["top left", "top", "top right", "left", "center", "right",
             "bottom left", "bottom", "bottom right"]
CELL = [12, 32, 52]
RELATIONS = ["to the left of", "to the right of", "above", "below"]
COUNT_WORDS = {2: "two", 3: "three", 4: "four"}
# kind_i × colour_(3i+1 mod 8) never appears in training scenes.
HELD_OUT = {(KINDS[i], COLOUR_NAMES[(3 * i + 1) % 8]) for i in range(8)}
SS = 4  # supersampling factor


def plural(kind):
    return PLURALS.get(kind, kind + "s")


def _polygon(kind, s, cx, cy):
    h = s / 2
    if kind == "triangle":
        return [(cx, cy - h), (cx + h, cy + 0.85 * h), (cx - h, cy + 0.85 * h)]
    if kind == "diamond":
        return [(cx, cy - h), (cx + h, cy), (cx, cy + h), (cx - h, cy)]
    if kind == "hexagon":
        return [(cx + h * math.cos(math.radians(60 * k)), cy + h * math.sin(math.radians(60 * k)))
                for k in range(6)]
    if kind == "star":
        pts = []
        for k in range(10):
            r = h if k % 2 == 0 else 0.45 * h
            a = math.radians(-90 + 36 * k)
            pts.append((cx + r * math.cos(a), cy + 0.1 * h + r * math.sin(a)))
        return pts
    return None


def _inside_polygon(pts, x, y):
    """Even-odd rule; x, y are numpy arrays of sample points."""
    inside = np.zeros(x.shape, dtype=bool)
    n = len(pts)
    for k in range(n):
        x0, y0 = pts[k]
        x1, y1 = pts[(k + 1) % n]
        if y0 == y1:
            continue
        cond = (y0 > y) != (y1 > y)
        xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= cond & (x < xc)
    return inside


def coverage_mask(kind, s, cx, cy, x, y):
    """Boolean mask of sample points (x, y) inside shape `kind` of side s centred at (cx, cy)."""
    h = s / 2
    dx, dy = x - cx, y - cy
    if kind == "circle":
        return dx * dx + dy * dy <= h * h
    if kind == "ring":
        r2 = dx * dx + dy * dy
        hole = h - 0.27 * s
        return (r2 <= h * h) & (r2 > hole * hole)
    if kind == "square":
        return (np.abs(dx) <= 0.9 * h) & (np.abs(dy) <= 0.9 * h)
    if kind == "cross":
        t = 0.18 * s
        return ((np.abs(dx) <= h) & (np.abs(dy) <= t)) | ((np.abs(dy) <= h) & (np.abs(dx) <= t))
    return _inside_polygon(_polygon(kind, s, cx, cy), x, y)


_AX = (np.arange(64 * SS) + 0.5) / SS
SAMPLE_X, SAMPLE_Y = np.meshgrid(_AX, _AX)  # (256, 256): [row, col]


def render(background, objects):
    """objects: list of (kind, colour, size_px, cx, cy). Returns uint8 (64, 64, 3)."""
    img = np.empty((64 * SS, 64 * SS, 3), dtype=np.float64)
    img[:] = BACKGROUNDS[background]
    for kind, colour, s, cx, cy in objects:
        m = coverage_mask(kind, s, cx, cy, SAMPLE_X, SAMPLE_Y)
        img[m] = COLOURS[colour]
    small = img.reshape(64, SS, 64, SS, 3).sum(axis=(1, 3)) / (SS * SS)
    return np.floor(small + 0.5).astype(np.uint8)


def coverage(kind, s, cx, cy):
    """Anti-aliased coverage in [0, 1] of one shape, (64, 64) float64."""
    m = coverage_mask(kind, s, cx, cy, SAMPLE_X, SAMPLE_Y).astype(np.float64)
    return m.reshape(64, SS, 64, SS).sum(axis=(1, 3)) / (SS * SS)


# ---------------------------------------------------------------------------------------
# Scenes and captions

def _pairs(split):
    allp = [(k, c) for k in KINDS for c in COLOUR_NAMES]
    if split == "train":
        return [p for p in allp if p not in HELD_OUT]
    return allp


def _place(rng, pos, s):
    row, col = divmod(POSITIONS.index(pos), 3)
    h = s / 2
    cx = min(max(CELL[col] + rng.randint(-2, 2), h), 64 - h)
    cy = min(max(CELL[row] + rng.randint(-2, 2), h), 64 - h)
    return cx, cy


def sample_scene(rng, split="train"):
    """A scene dict. split "train" never uses a held-out pair; "heldout" uses at least one."""
    while True:
        sc = _sample_scene(rng, split)
        pairs = {(o[0], o[1]) for o in sc["objects"]}
        has_held = bool(pairs & HELD_OUT)
        if (split == "train") != has_held:
            return sc


def _sample_scene(rng, split):
    pairs = _pairs(split)
    bg = rng.choice(list(BACKGROUNDS))
    r = rng.random()
    if r < 0.5:
        kind, colour = rng.choice(pairs)
        size = rng.choice(list(SIZES))
        pos = rng.choice(POSITIONS)
        cx, cy = _place(rng, pos, SIZES[size])
        return {"type": "single", "background": bg, "size": size, "position": pos,
                "objects": [(kind, colour, SIZES[size], cx, cy)]}
    if r < 0.75:
        kind, colour = rng.choice(pairs)
        size = rng.choice(["small", "medium"])
        s = SIZES[size]
        count = rng.randint(2, 4)
        while True:
            pts = []
            for _ in range(200):
                cx = rng.randint(math.ceil(s / 2), 64 - math.ceil(s / 2))
                cy = rng.randint(math.ceil(s / 2), 64 - math.ceil(s / 2))
                if all(abs(cx - px) >= s + 3 or abs(cy - py) >= s + 3 for px, py in pts):
                    pts.append((cx, cy))
                    if len(pts) == count:
                        break
            if len(pts) == count:
                break
        return {"type": "count", "background": bg, "size": size, "count": count,
                "objects": [(kind, colour, s, cx, cy) for cx, cy in pts]}
    # relation: B <relation> A
    size = rng.choice(["small", "medium"])
    s = SIZES[size]
    a = rng.choice(pairs)
    b = rng.choice([p for p in pairs if p != a])
    rel = rng.choice(RELATIONS)
    h = s / 2
    while True:
        ax = rng.randint(math.ceil(h), 64 - math.ceil(h))
        ay = rng.randint(math.ceil(h), 64 - math.ceil(h))
        along = rng.randint(s + 7, 64)
        across = rng.randint(-int(0.6 * along - 1e-9), int(0.6 * along - 1e-9))
        if abs(across) >= 0.6 * along:
            continue
        dx, dy = {"to the left of": (-along, across), "to the right of": (along, across),
                  "above": (across, -along), "below": (across, along)}[rel]
        bx, by = ax + dx, ay + dy
        if h <= bx <= 64 - h and h <= by <= 64 - h:
            break
    return {"type": "relation", "background": bg, "size": size, "relation": rel,
            "objects": [(a[0], a[1], s, ax, ay), (b[0], b[1], s, bx, by)]}


def _article(word):
    return "an" if word[0] in "aeiou" else "a"


def _np(size_word, colour, kind):
    words = ([size_word] if size_word else []) + [colour, kind]
    return _article(words[0]) + " " + " ".join(words)


def _position_phrase(pos):
    if pos == "center":
        return "in the center"
    if pos in ("left", "right"):
        return "on the " + pos
    return "at the " + pos


def caption(scene, rng=None, train=False):
    """(text, asserted) — asserted lists what the caption claims, for the scorer.

    With train=True the size and position phrases are each dropped with p = 0.2 and the
    background phrase with p = 0.3; a training loop also replaces 10 % of captions with "".
    """
    rng = rng or random.Random(0)
    keep_size = not (train and rng.random() < 0.2)
    keep_pos = not (train and rng.random() < 0.2)
    keep_bg = not (train and rng.random() < 0.3)
    t, objs = scene["type"], scene["objects"]
    size = scene["size"] if keep_size else None
    asserted = {"type": t, "count": len(objs), "size": size,
                "background": scene["background"] if keep_bg else None}
    if t == "single":
        kind, colour = objs[0][0], objs[0][1]
        text = _np(size, colour, kind)
        asserted.update(kind=kind, colour=colour)
        if keep_pos:
            text += " " + _position_phrase(scene["position"])
            asserted["position"] = scene["position"]
    elif t == "count":
        kind, colour = objs[0][0], objs[0][1]
        text = " ".join([COUNT_WORDS[len(objs)]] + ([size] if size else []) + [colour, plural(kind)])
        asserted.update(kind=kind, colour=colour)
    else:
        a, b = objs
        text = _np(size, b[1], b[0]) + " " + scene["relation"] + " " + _np(size, a[1], a[0])
        asserted.update(kind=b[0], colour=b[1], kind2=a[0], colour2=a[1], relation=scene["relation"])
    if keep_bg:
        bg = scene["background"]
        form = rng.randrange(3) if train else 0
        text += [" on a %s background" % bg, " on %s" % bg, " with a %s background" % bg][form]
    return text, asserted


# ---------------------------------------------------------------------------------------
# Scorer

def _l1(a, b):
    return sum(abs(int(x) - int(y)) for x, y in zip(a, b))


_TEMPLATE_OFFSET = {}


def _template_offset(kind, size):
    """Offset of a shape's coverage centroid from its nominal centre."""
    key = (kind, size)
    if key not in _TEMPLATE_OFFSET:
        cov = coverage(kind, SIZES[size], 32.0, 32.0)
        ys, xs = np.mgrid[0:64, 0:64] + 0.5
        w = cov.sum()
        _TEMPLATE_OFFSET[key] = ((cov * xs).sum() / w - 32.0, (cov * ys).sum() / w - 32.0)
    return _TEMPLATE_OFFSET[key]


def parse(img):
    """Objects seen in a (64, 64, 3) uint8 image: (background, [object dicts])."""
    img = np.asarray(img, dtype=np.int32)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    med = np.median(border, axis=0)
    background = min(BACKGROUNDS, key=lambda n: sum(abs(med - np.array(BACKGROUNDS[n]))))
    bgc = np.array(BACKGROUNDS[background])
    diff = np.abs(img - bgc).sum(axis=2)
    fg = diff > 90
    label = np.zeros((64, 64), dtype=np.int32)  # 0: background, k: blob k (1-based)
    blobs = []
    for i in range(64):
        for j in range(64):
            if not fg[i, j] or label[i, j]:
                continue
            k = len(blobs) + 1
            stack, blob = [(i, j)], []
            label[i, j] = k
            while stack:
                y, x = stack.pop()
                blob.append((y, x))
                for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if 0 <= yy < 64 and 0 <= xx < 64 and fg[yy, xx] and not label[yy, xx]:
                        label[yy, xx] = k
                        stack.append((yy, xx))
            blobs.append(blob)
    objects = []
    for k, blob in enumerate(blobs, 1):
        if len(blob) >= 12:
            objects.append(_describe(img, bgc, diff, label, k, blob))
    return background, objects


def _describe(img, bgc, diff, label, k, blob):
    """Colour, kind, size and position of blob k.

    The soft alpha map covers the blob dilated by 2 px (minus other blobs), so the faint
    anti-aliased edge pixels below the blob threshold still count.
    """
    ys = np.array([p[0] for p in blob])
    xs = np.array([p[1] for p in blob])
    core = diff[ys, xs] > 150
    if core.sum() == 0:
        core = np.ones(len(blob), dtype=bool)
    med = np.median(img[ys[core], xs[core]], axis=0)
    colour = min(COLOURS, key=lambda n: sum(abs(med - np.array(COLOURS[n]))))
    d = np.array(COLOURS[colour], dtype=np.float64) - bgc
    region = np.zeros((64, 64), dtype=bool)
    for y, x in blob:
        region[max(0, y - 2):y + 3, max(0, x - 2):x + 3] = True
    region &= (label == 0) | (label == k)
    ry, rx = np.nonzero(region)
    alpha = np.zeros((64, 64))
    alpha[ry, rx] = np.clip(((img[ry, rx] - bgc) @ d) / (d @ d), 0, 1)
    w = alpha.sum()
    cx = (alpha * (np.arange(64) + 0.5)[None, :]).sum() / w
    cy = (alpha * (np.arange(64) + 0.5)[:, None]).sum() / w
    best = None
    for kind in KINDS:
        for size in SIZES:
            ox, oy = _template_offset(kind, size)
            cov = coverage(kind, SIZES[size], cx - ox, cy - oy)
            err = np.abs(cov - alpha).sum()
            if best is None or err < best[0]:
                best = (err, kind, size)
    col3 = min(2, int(cx * 3 / 64))
    row3 = min(2, int(cy * 3 / 64))
    return {"kind": best[1], "size": best[2], "colour": colour, "cx": cx, "cy": cy,
            "position": POSITIONS[row3 * 3 + col3]}


def score(img, asserted):
    """Per-attribute verdicts for an image against a caption's assertions, and "all"."""
    background, objs = parse(img)
    res = {}
    if asserted.get("background"):
        res["background"] = background == asserted["background"]
    res["count"] = len(objs) == asserted["count"]
    t = asserted["type"]
    if t in ("single", "count"):
        ok = len(objs) > 0
        res["kind"] = ok and all(o["kind"] == asserted["kind"] for o in objs)
        res["colour"] = ok and all(o["colour"] == asserted["colour"] for o in objs)
        if asserted.get("size"):
            res["size"] = ok and all(o["size"] == asserted["size"] for o in objs)
        if asserted.get("position"):
            res["position"] = ok and all(o["position"] == asserted["position"] for o in objs)
    else:
        b = [o for o in objs if o["kind"] == asserted["kind"] and o["colour"] == asserted["colour"]]
        a = [o for o in objs if o["kind"] == asserted["kind2"] and o["colour"] == asserted["colour2"]]
        res["kind"] = len({o["kind"] for o in objs}) == len({asserted["kind"], asserted["kind2"]}) and \
            {o["kind"] for o in objs} == {asserted["kind"], asserted["kind2"]}
        res["colour"] = {o["colour"] for o in objs} == {asserted["colour"], asserted["colour2"]}
        if asserted.get("size"):
            res["size"] = len(objs) > 0 and all(o["size"] == asserted["size"] for o in objs)
        rel_ok = False
        if len(a) == 1 and len(b) == 1:
            dx, dy = b[0]["cx"] - a[0]["cx"], b[0]["cy"] - a[0]["cy"]
            rel_ok = {"to the left of": dx < 0 and abs(dx) > abs(dy),
                      "to the right of": dx > 0 and abs(dx) > abs(dy),
                      "above": dy < 0 and abs(dy) > abs(dx),
                      "below": dy > 0 and abs(dy) > abs(dx)}[asserted["relation"]]
        res["relation"] = rel_ok
    res["all"] = all(res.values())
    return res
