"""A synthetic stand-in for Kaggle's Dogs vs. Cats, so the pipeline runs end to end without the download.

These are NOT photos of cats and dogs. Each image is a drawn cartoon "animal" on a cluttered background:

* background: a random two-colour gradient, low-frequency blotches, pixel noise and a few distractor shapes
  (ellipses, triangles, bars, lines) in random colours;
* the object: class ``cat`` is a rounded, compact body with a round head, two pointed upright ears and an upright,
  curved tail; class ``dog`` is a longer, lower body with a longer snout, floppy ears hanging down and a straight
  tail. Body proportions and snout length vary continuously within each class (the tails of the two ranges meet),
  and everything else varies the same way for both classes: coat colour (from one shared palette) and markings,
  size, position, rotation, mirroring, lighting, blur, occlusion by a distractor and JPEG noise.

So 100 labels give a classifier that is clearly better than chance but far from perfect, while the shape families
form clusters that a model can find in many unlabelled images (the point of the semi-supervised GAN).

`write_synthetic_zip` lays the images out exactly like Kaggle's ``dogs-vs-cats.zip`` -- an outer zip holding
``train.zip`` (``train/cat.N.jpg``, ``train/dog.N.jpg``, N = 0..per_class-1), ``test1.zip`` (``test1/N.jpg``,
N = 1..unlabeled, drawn from both classes with hidden labels) and ``sampleSubmission.csv`` -- so the real ingestion
code reads it. The output depends only on the config and the seed: every image has its own random generator seeded
from (seed, split, class, index), zip members are sorted and carry fixed timestamps, JPEG settings are fixed, and no
global random state is read or changed. Same config and seed => byte-identical zip.
"""
from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..config import SyntheticConfig

JPEG_QUALITY = 85
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold: members carry no trace of when they were made
_SUPERSAMPLE = 2  # shapes are drawn at twice the size and box-filtered down (anti-aliased edges)
_STREAM_TRAIN, _STREAM_TEST, _STREAM_LABEL = 1, 2, 3
_CLASSES = ("cat", "dog")


def write_synthetic_zip(cfg: SyntheticConfig, seed: int, path: Path) -> Path:
    """Write the stand-in data set to `path` (a Kaggle-shaped ``dogs-vs-cats.zip``) and return `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    train = {}
    for label, name in enumerate(_CLASSES):
        for i in range(cfg.per_class):
            train[f"train/{name}.{i}.jpg"] = jpeg_bytes(render_image(seed, _STREAM_TRAIN, label, i, cfg.size, cfg.clutter))
    test = {}
    for i in range(1, cfg.unlabeled + 1):
        test[f"test1/{i}.jpg"] = jpeg_bytes(render_image(seed, _STREAM_TEST, hidden_label(seed, i), i, cfg.size,
                                                         cfg.clutter))
    submission = "id,label\n" + "".join(f"{i},0\n" for i in range(1, cfg.unlabeled + 1))

    outer = {
        "sampleSubmission.csv": submission.encode(),
        "test1.zip": _zip_bytes(test, "test1/", zipfile.ZIP_DEFLATED),
        "train.zip": _zip_bytes(train, "train/", zipfile.ZIP_DEFLATED),
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(_zip_bytes(outer, None, zipfile.ZIP_STORED))  # inner zips stored: read in place, not spooled
        os.replace(tmp, path)  # a reader never sees half a zip
    finally:
        tmp.unlink(missing_ok=True)
    return path


def hidden_label(seed: int, kaggle_id: int) -> int:
    """Class (0 = cat, 1 = dog) of stand-in ``test1/<kaggle_id>.jpg``; for diagnostics only, the pipeline never sees it."""
    return int(np.random.default_rng((seed, _STREAM_LABEL, kaggle_id)).integers(2))


def render_image(seed: int, stream: int, label: int, index: int, size: int, clutter: bool = True) -> Image.Image:
    """One `size` x `size` RGB image of class `label` (0 = cat, 1 = dog); a pure function of its arguments. Without
    `clutter`: a plain, muted background (one colour: no gradient, blotches, distractor shapes, occlusion or light
    direction) and a larger animal (60-85% of the side instead of 36-56%), so the animal's shape is the only thing in
    the picture that survives cropping and colour changes."""
    rng = np.random.default_rng((seed, stream, label, index))
    big = size * _SUPERSAMPLE
    canvas = Image.fromarray(_background(rng, big, clutter))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(0, 4) if clutter else 0):
        _distractor(rng, draw, big)
    _animal(rng, canvas, big, label, (0.36, 0.56) if clutter else (0.6, 0.85))
    if clutter and rng.random() < 0.2:  # partial occlusion: a distractor in front of the animal
        _distractor(rng, ImageDraw.Draw(canvas), big, near_centre=True)
    if rng.random() < 0.2:
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.6) * _SUPERSAMPLE))
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return Image.fromarray(_light_and_noise(rng, np.asarray(small, dtype=np.float32), directional=clutter))


# --- background, distractors, lighting -------------------------------------------------------------------------


# coat colours shared by both classes (black, white, grey, ginger, brown, cream, tan, blue-grey); each is jittered
_COATS = np.array([(30, 28, 26), (235, 232, 225), (128, 128, 124), (212, 118, 48), (112, 70, 38), (228, 202, 150),
                   (178, 136, 86), (96, 110, 130)], dtype=np.float32)


def _coat_colour(rng: np.random.Generator) -> np.ndarray:
    return np.clip(_COATS[rng.integers(len(_COATS))] + rng.normal(0, 18, 3), 0, 255).astype(np.float32)


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _ramp(angle: float, side: int) -> np.ndarray:
    """A float32 `side` x `side` linear ramp from -1 to 1 (about) along direction `angle`."""
    coords = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    return coords[None, :] * math.cos(angle) + coords[:, None] * math.sin(angle)


def _background(rng: np.random.Generator, side: int, blotches: bool = True) -> np.ndarray:
    c1, c2 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    # muted, more photo-like backgrounds as often as saturated ones; plain ones always muted
    grey = rng.uniform(0.0, 0.7) if blotches else rng.uniform(0.8, 1.0)
    c1, c2 = c1 * (1 - grey) + c1.mean() * grey, c2 * (1 - grey) + c2.mean() * grey
    if not blotches:  # plain: nothing but the animal carries structure that survives cropping
        return np.broadcast_to(np.clip(c1, 0, 255).astype(np.uint8), (side, side, 3)).copy()
    t = _ramp(rng.uniform(0, 2 * np.pi), side) * 0.5 + 0.5
    img = c1[:, None, None] + (c2 - c1)[:, None, None] * t  # channels first: numpy is slow on a last axis of 3
    cells = int(rng.integers(3, 7))  # low-frequency blotches, upsampled smoothly
    blotch = Image.fromarray(rng.uniform(0, 255, (cells, cells, 3)).astype(np.uint8))
    blotch = np.asarray(blotch.resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32).transpose(2, 0, 1)
    img += (blotch - 127.5) * rng.uniform(0.05, 0.3)
    return np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0).copy()


def _distractor(rng: np.random.Generator, draw: ImageDraw.ImageDraw, side: int, near_centre: bool = False) -> None:
    colour = _random_colour(rng)
    if near_centre:
        cx, cy = rng.uniform(0.3, 0.7, 2) * side
    else:
        cx, cy = rng.uniform(0, 1, 2) * side
    r = rng.uniform(0.04, 0.13) * side
    kind = rng.integers(5)
    if kind == 0:  # ellipse
        draw.polygon(_ellipse(cx, cy, r, r * rng.uniform(0.3, 1.0), rng.uniform(0, np.pi)), fill=colour)
    elif kind == 1:  # triangle (looks like an ear)
        draw.polygon([tuple(p) for p in np.array([cx, cy]) + rng.uniform(-r, r, (3, 2))], fill=colour)
    elif kind == 2:  # bar
        draw.polygon(_ellipse(cx, cy, r * 1.5, r * 0.25, rng.uniform(0, np.pi), n=4), fill=colour)
    else:  # line or curve
        pts = np.array([cx, cy]) + np.cumsum(rng.normal(0, r * 0.6, (int(rng.integers(2, 5)), 2)), axis=0)
        draw.line([tuple(p) for p in pts], fill=colour, width=int(rng.integers(1, 4) * _SUPERSAMPLE))


def _light_and_noise(rng: np.random.Generator, img: np.ndarray, directional: bool = True) -> np.ndarray:
    ramp = _ramp(rng.uniform(0, 2 * np.pi), img.shape[0]) if directional else 0.0
    gain = rng.uniform(0.6, 1.25) + rng.uniform(0, 0.35) * ramp  # overall brightness and a light direction
    tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)  # colour cast
    img = img.transpose(2, 0, 1) * gain * tint[:, None, None] + rng.uniform(-25, 25)  # channels first, as above
    img += rng.standard_normal(img.shape, dtype=np.float32) * rng.uniform(2, 10)
    return np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0).copy()


# --- the animal ----------------------------------------------------------------------------------------------


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray, min_distance: float = 110.0) -> np.ndarray:
    """A random colour that stands out from `background` (so the animal is visible; the class is in its shape)."""
    for _ in range(20):
        colour = _coat_colour(rng)
        if np.linalg.norm(colour - background) >= min_distance:
            break
    return colour.astype(np.float32)


def _rgb(colour: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(colour, 0, 255))


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 20) -> list[tuple[float, float]]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False) + (np.pi / 4 if n == 4 else 0.0)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = np.cos(angle), np.sin(angle)
    return list(zip((cx + c * x - s * y).tolist(), (cy + s * x + c * y).tolist()))


def _ellipse_pts(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 20) -> np.ndarray:
    return np.array(_ellipse(cx, cy, rx, ry, angle, n))


def _animal(rng: np.random.Generator, canvas: Image.Image, side: int, label: int,
            scale_range: tuple[float, float]) -> None:
    """Draw a cat (0) or a dog (1) in a local frame (body at the origin, facing +x, y down), then place it at a size
    drawn from `scale_range` (fractions of the side)."""
    # `dogness` sets the shape family; the two classes' ranges overlap, so shape alone is ambiguous near the middle
    dogness = float(np.clip(rng.normal(0.8 if label else 0.2, 0.12), 0.0, 1.0))
    jitter = lambda lo, hi: rng.uniform(lo, hi)  # noqa: E731  (shape noise shared by both classes)

    body_rx = (0.32 + 0.28 * dogness) * jitter(0.9, 1.1)
    body_ry = (0.34 - 0.14 * dogness) * jitter(0.9, 1.1)
    head_r = 0.2 * jitter(0.85, 1.15)
    head_x = body_rx * 0.85 + head_r * 0.3
    head_y = -body_ry - head_r * (0.55 - 0.25 * dogness)
    parts: list[tuple[str, np.ndarray]] = []  # (which colour, polygon) in draw order

    tail_w = 0.06 * jitter(0.8, 1.3)
    if label == 0:  # cat: upright, curving tail
        bend = jitter(-0.15, 0.25)
        root = (-body_rx * 0.85, -body_ry * 0.3)
        tail = [root, (-body_rx - 0.12, -body_ry - 0.15), (-body_rx - 0.05 + bend, -body_ry - 0.4)]
    else:  # dog: straight tail, pointing back and up
        tilt = jitter(0.1, 0.9)
        root = (-body_rx * 0.85, -body_ry * 0.3)
        tail = [root, (root[0] - 0.35 * math.cos(tilt), root[1] - 0.35 * math.sin(tilt))]
    leg_len = (0.14 + 0.12 * dogness) * jitter(0.8, 1.2)
    leg_w = 0.07 * jitter(0.8, 1.2)
    foot = body_ry * 0.6 + leg_len
    for lx in (-0.6, -0.35, 0.4, 0.65):
        left, right = lx * body_rx - leg_w / 2, lx * body_rx + leg_w / 2
        parts.append(("main", np.array([(left, 0), (right, 0), (right, foot), (left, foot)])))
    parts.append(("main", _ellipse_pts(0, 0, body_rx, body_ry)))

    if label == 0:  # cat: two pointed, upright ears on top of the head
        ear_h = head_r * jitter(0.8, 1.4)
        ear_w = head_r * jitter(0.45, 0.7)
        for ex in (-0.45, 0.35):
            bx = head_x + ex * head_r
            by = head_y - head_r * 0.6
            lean = jitter(-0.2, 0.3) * ear_h
            ear = np.array([(bx - ear_w / 2, by + 0.05), (bx + ear_w / 2, by + 0.05), (bx + lean, by - ear_h)])
            parts.append(("main", ear))
    parts.append(("main", _ellipse_pts(head_x, head_y, head_r, head_r * jitter(0.85, 1.0))))
    snout_len = head_r * (0.35 + 0.9 * dogness) * jitter(0.85, 1.15)
    snout_h = head_r * jitter(0.4, 0.6)
    snout_x = head_x + head_r * 0.6 + snout_len * 0.5
    parts.append(("snout", _ellipse_pts(snout_x, head_y + head_r * 0.25, snout_len * 0.7, snout_h)))
    if label == 1:  # dog: floppy ears hanging down beside the head
        ear_l = head_r * jitter(0.7, 1.2)
        for ex in (-0.55, 0.05):
            swing = jitter(-0.3, 0.5)
            ear = _ellipse_pts(head_x + ex * head_r, head_y + ear_l * 0.35, head_r * 0.3, ear_l * 0.7, swing)
            parts.append(("ear", ear))

    # pose: scale, rotation, mirror, position -- identical distributions for both classes
    scale = rng.uniform(*scale_range) * side
    angle = rng.uniform(-0.35, 0.35)
    mirror = -1.0 if rng.random() < 0.5 else 1.0
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c * mirror, -s], [s * mirror, c]]) * scale
    centre = rng.uniform(0.36, 0.64, 2) * side

    box = tuple(int(v) for v in (*(centre - scale / 3), *(centre + scale / 3)))
    main = _contrasting_colour(rng, np.asarray(canvas.crop(box), dtype=np.float32).reshape(-1, 3).mean(0))
    second = main * rng.uniform(0.4, 0.9) if rng.random() < 0.5 else _coat_colour(rng)
    colours = {"main": main, "snout": main if rng.random() < 0.5 else second, "ear": main if rng.random() < 0.5 else second}
    fill = {k: _rgb(col) for k, col in colours.items()}

    draw = ImageDraw.Draw(canvas)
    every = np.concatenate([poly for _, poly in parts] + [np.asarray(tail)])
    middle = (every.min(0) + every.max(0)) / 2  # the animal's bounding box is centred on `centre`

    def place(points) -> list[tuple[float, float]]:
        return [tuple(p) for p in ((np.asarray(points, dtype=np.float64) - middle) @ rot.T + centre).tolist()]

    width = max(1, int(round(tail_w * scale)))
    draw.line(place(tail), fill=fill["main"], width=width, joint="curve")
    for tone, poly in parts:
        draw.polygon(place(poly), fill=fill[tone])
    if rng.random() < 0.5:  # markings: a patch of the second colour on the body
        px, py = rng.uniform(-0.5, 0.5) * body_rx, rng.uniform(-0.4, 0.2) * body_ry
        patch = _ellipse_pts(px, py, body_rx * rng.uniform(0.2, 0.45), body_ry * rng.uniform(0.3, 0.6))
        draw.polygon(place(patch), fill=_rgb(second))
    eye = (head_x + head_r * 0.35, head_y - head_r * 0.15)
    draw.polygon(place(_ellipse_pts(*eye, head_r * 0.12, head_r * 0.12, n=8)), fill=(20, 20, 20))


# --- encoding and archiving ----------------------------------------------------------------------------------


def jpeg_bytes(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=2, optimize=False, progressive=False)
    return out.getvalue()


def _zip_bytes(members: dict[str, bytes], folder: str | None, compression: int) -> bytes:
    """A zip of `members` in sorted order with fixed metadata (date, permissions, creator system)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        if folder is not None:  # Kaggle's inner zips carry their folder as an entry of its own
            archive.writestr(_info(folder, zipfile.ZIP_STORED, 0o40755 << 16 | 0x10), b"")
        for name in sorted(members):
            archive.writestr(_info(name, compression, 0o100644 << 16), members[name])
    return out.getvalue()


def _info(name: str, compression: int, attrs: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = compression
    info.create_system = 3  # Unix, whatever machine writes it
    info.external_attr = attrs
    return info
