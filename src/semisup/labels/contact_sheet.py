"""Contact sheets: a grid of photo thumbnails, each with a caption that fits its cell and an optional coloured frame.

Shared by the curation review (`review.py`) and `semisup predict --sheet`. Captions are drawn in DejaVu Sans, found
where matplotlib keeps it (so it is there wherever the project is installed) or among the system's fonts: Pillow's
own default font has no ✓ or ✗ and draws them as empty boxes. Without DejaVu the sheet still draws, with plain
ASCII marks (`MARKS`).
"""
from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

from ..data.images import to_rgb
from ..files import atomic_path

FRAME_COLOURS = {"green": (0, 170, 0), "red": (210, 0, 0)}
ELLIPSIS = "…"


@dataclass(frozen=True)
class Tile:
    """One photo on a sheet: its bytes, its caption lines (each shortened to the cell's width) and frame colour."""

    data: bytes
    caption: tuple[str, ...]
    frame: str | None = None  # a key of FRAME_COLOURS, or None


@functools.lru_cache(maxsize=1)
def font_file() -> str | None:
    """DejaVu Sans: matplotlib's bundled copy, else the system's (Pillow searches the usual font folders), else None."""
    try:
        import matplotlib

        bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        if bundled.is_file():
            return str(bundled)
    except ImportError:  # pragma: no cover - matplotlib is a dependency; a trimmed install may lack it
        pass
    try:
        ImageFont.truetype("DejaVuSans.ttf", 10)
        return "DejaVuSans.ttf"
    except OSError:
        return None


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    if (path := font_file()) is not None:
        return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def marks() -> tuple[str, str]:
    """The right and wrong marks the caption font can draw."""
    return ("✓", "✗") if font_file() is not None else ("ok", "no")


def thumbnail(data: bytes, side: int) -> Image.Image:
    """A photo fitted into a side x side square (aspect kept); an unreadable file becomes a grey tile, not a crash."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            fitted = ImageOps.contain(to_rgb(img), (side, side))
    except Exception:  # noqa: BLE001 - any decoding failure just means "show that it is unreadable"
        tile = Image.new("RGB", (side, side), (160, 160, 160))
        ImageDraw.Draw(tile).text((4, side // 2), "unreadable", fill=(0, 0, 0), font=font(12))
        return tile
    tile = Image.new("RGB", (side, side), (255, 255, 255))
    tile.paste(fitted, ((side - fitted.width) // 2, (side - fitted.height) // 2))
    return tile


def fit(text: str, width: int, face: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> str:
    """`text`, shortened in the middle (`cat.1…23.jpg`) until it is at most `width` pixels wide: a caption never
    runs into its neighbour's."""
    if face.getlength(text) <= width:
        return text
    keep = len(text)
    while keep > 1:
        keep -= 1
        short = text[: (keep + 1) // 2] + ELLIPSIS + text[len(text) - keep // 2:]
        if face.getlength(short) <= width:
            return short
    return ELLIPSIS


def render(tiles: Sequence[Tile], thumb: int, columns: int | None = None) -> Image.Image:
    """The grid: `columns` (default about 4:3) cells of a thumbnail and its caption lines."""
    columns = columns or max(1, round(math.sqrt(len(tiles) * 4 / 3)))
    rows = max(1, math.ceil(len(tiles) / columns))
    face = font(max(10, thumb // 11))
    ascent, descent = face.getmetrics() if hasattr(face, "getmetrics") else (10, 2)
    line = ascent + descent + 2
    lines = max((len(t.caption) for t in tiles), default=1)
    pad = 8
    cell_w, cell_h = thumb + pad, thumb + 4 + lines * line + pad
    sheet = Image.new("RGB", (columns * cell_w + pad, rows * cell_h + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for slot, tile in enumerate(tiles):
        x = pad + (slot % columns) * cell_w
        y = pad + (slot // columns) * cell_h
        sheet.paste(thumbnail(tile.data, thumb), (x, y))
        if tile.frame is not None:
            draw.rectangle((x - 3, y - 3, x + thumb + 2, y + thumb + 2), outline=FRAME_COLOURS[tile.frame], width=3)
        for i, text in enumerate(tile.caption):
            draw.text((x, y + thumb + 4 + i * line), fit(text, thumb, face), fill=(0, 0, 0), font=face)
    return sheet


def save_png(image: Image.Image, path: Path, max_kb: int = 0) -> None:
    """Save as PNG; with `max_kb`, fall back to 256 colours and then shrink until the file fits (for the README)."""
    with atomic_path(path) as tmp:
        write_png(image, tmp, max_kb)


def write_png(image: Image.Image, target: Path, max_kb: int = 0) -> None:
    """`save_png` into a path the caller makes atomic (one of a set of outputs)."""
    image.save(target, format="PNG", optimize=True)
    current = image
    while max_kb and target.stat().st_size > max_kb * 1000 and current.width >= 200:
        current.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, format="PNG", optimize=True)
        if target.stat().st_size <= max_kb * 1000:
            break
        current = current.resize((int(current.width * 0.9), int(current.height * 0.9)), Image.Resampling.LANCZOS)
