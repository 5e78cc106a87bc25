"""Decode-once checks of an input photo: is it a usable image, what are its pixels, does it need re-encoding."""
from __future__ import annotations

import hashlib
import io
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

MIN_SIDE = 8  # smaller images carry no usable content at any image_size
JPEG_QUALITY = 95  # for the few inputs that must be re-encoded (CMYK, PNG, palette, 16-bit)
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")  # Pillow's "Image size (144000000 pixels) exceeds limit of ..."


@dataclass(frozen=True)
class ImageCheck:
    """Outcome of decoding one file: `reason` is None for a usable image."""

    sha256: str  # of the file's bytes
    pixel_sha256: str = ""  # of the decoded RGB pixels: equal for exact duplicates, whatever the encoding
    width: int = 0
    height: int = 0
    converted: str = ""  # why the image is re-encoded as an RGB JPEG, or "" when its bytes are used as they are
    reason: str | None = None


def inspect_image(data: bytes) -> ImageCheck:
    digest = hashlib.sha256(data).hexdigest()
    if not data:
        return ImageCheck(digest, reason="empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, mode = img.format, img.mode
                img.load()
                rgb = to_rgb(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return ImageCheck(digest, reason=_too_large(exc))
    except UnidentifiedImageError as exc:
        return ImageCheck(digest, reason=f"not a readable image ({type(exc).__name__})")
    except (OSError, SyntaxError, ValueError) as exc:
        return ImageCheck(digest, reason=f"truncated or corrupt image ({exc})")
    width, height = rgb.size
    if min(width, height) < MIN_SIDE:
        return ImageCheck(digest, width=width, height=height, reason=f"too small ({width}x{height} px)")
    pixels = hashlib.sha256(f"{width}x{height}:".encode() + rgb.tobytes()).hexdigest()
    converted = ""
    if fmt != "JPEG":
        converted = f"{fmt} content re-encoded as JPEG"
    elif mode not in ("RGB", "L"):
        converted = f"JPEG in {mode} re-encoded as RGB"
    return ImageCheck(digest, pixels, width, height, converted)


def _too_large(exc: Exception) -> str:
    limit = Image.MAX_IMAGE_PIXELS or 0
    found = _BOMB_PIXELS.search(str(exc))
    size = f"{int(found.group(1)):,} pixels" if found else "more pixels than allowed"
    return (f"too large ({size}; the limit is {limit:,} pixels, about {math.isqrt(limit):,} x {math.isqrt(limit):,}): "
            "shrink it to predict or train on it")


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB pixels with the image's bit depth respected: Pillow's own `convert("RGB")` clips 16-bit greyscale
    (`I;16`, or `I` from older Pillow) at 255 instead of scaling it, turning nearly every pixel white. Used for the
    pixel hash, `prepare`'s re-encoding and `predict`'s, so training and prediction see the same pixels."""
    if img.mode.startswith("I;16") or img.mode == "I":
        wide = np.clip(np.asarray(img, dtype=np.int64), 0, 65535)
        return Image.fromarray(((wide + 128) // 257).astype(np.uint8), "L").convert("RGB")
    return img.convert("RGB")


def as_rgb_jpeg(data: bytes) -> bytes:
    """Re-encode an image that decoders may not agree on (CMYK, PNG, palette, 16-bit) as a plain RGB JPEG."""
    with Image.open(io.BytesIO(data)) as img:
        out = io.BytesIO()
        to_rgb(img).save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
