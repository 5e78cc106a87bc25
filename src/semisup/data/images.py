"""Decode-once checks of an input photo: is it a usable image, what are its pixels, does it need re-encoding."""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MIN_SIDE = 8  # smaller images carry no usable content at any image_size
JPEG_QUALITY = 95  # for the few inputs that must be re-encoded (CMYK, PNG, palette, 16-bit)


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
                rgb = img.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
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


def as_rgb_jpeg(data: bytes) -> bytes:
    """Re-encode an image that decoders may not agree on (CMYK, PNG, palette) as a plain RGB JPEG."""
    with Image.open(io.BytesIO(data)) as img:
        out = io.BytesIO()
        img.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
