"""`semisup.data.images`: decode-once checks (usable? why not? re-encode?) and the pixel hash used to find duplicates."""
from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import encode, photo_bytes, photo_image
from semisup.data.images import MIN_SIDE, ImageCheck, as_rgb_jpeg, inspect_image, to_rgb

HEX64 = 64


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` (RGB) and holds one empty data chunk: a cheap decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------------------------------ usable images


def test_valid_rgb_jpeg_is_used_as_it_is():
    data = photo_bytes("rgb", (48, 40))
    check = inspect_image(data)
    assert check.reason is None
    assert check.converted == ""
    assert (check.width, check.height) == (48, 40)
    assert check.sha256 == hashlib.sha256(data).hexdigest()
    assert len(check.pixel_sha256) == HEX64


def test_grayscale_jpeg_is_kept_as_it_is():
    data = photo_bytes("gray", (40, 48), mode="L")
    assert decode(data).mode == "L"
    check = inspect_image(data)
    assert check.reason is None and check.converted == ""
    assert (check.width, check.height) == (40, 48)


def test_cmyk_jpeg_is_converted():
    data = photo_bytes("cmyk", mode="CMYK")
    assert decode(data).mode == "CMYK"
    check = inspect_image(data)
    assert check.reason is None
    assert "CMYK" in check.converted


def test_png_named_jpg_is_converted():
    """inspect_image sees bytes only: a PNG saved as cat.1.jpg is found by its content."""
    check = inspect_image(photo_bytes("png", fmt="PNG"))
    assert check.reason is None
    assert "PNG" in check.converted


def test_rgba_png_is_converted():
    img = photo_image("rgba").convert("RGBA")
    img.putalpha(128)
    check = inspect_image(encode(img, "PNG"))
    assert check.reason is None and "PNG" in check.converted


@pytest.mark.parametrize("fmt, mode", [("GIF", "P"), ("BMP", "RGB"), ("PNG", "P"), ("PNG", "L"), ("WEBP", "RGB"), ("TIFF", "RGB")])
def test_other_formats_are_converted(fmt, mode):
    check = inspect_image(photo_bytes(("other", fmt, mode), fmt=fmt, mode=mode))
    assert check.reason is None
    assert check.converted.startswith(fmt)


def test_sixteen_bit_png_is_converted():
    img = Image.fromarray((np.arange(48 * 40, dtype=np.uint16).reshape(40, 48) * 30).astype(np.uint16))
    check = inspect_image(encode(img, "PNG"))
    assert check.reason is None and "PNG" in check.converted
    assert decode(as_rgb_jpeg(encode(img, "PNG"))).mode == "RGB"


@pytest.mark.parametrize("mode", ["I;16", "I"])  # I;16: this Pillow's 16-bit greyscale; I: older Pillow's
def test_sixteen_bit_greyscale_is_scaled_not_clipped(mode):
    """Pillow's convert("RGB") clips 16-bit values at 255: 98% of this ramp would become white. Scaled by 257, the
    16-bit ramp gives the same picture as its 8-bit version (prepare and predict share the conversion)."""
    eight = (np.arange(48 * 40).reshape(40, 48) * 255 // (48 * 40 - 1)).astype(np.uint8)
    wide = eight.astype(np.uint16) * 257
    img = Image.fromarray(wide) if mode == "I;16" else Image.fromarray(wide.astype(np.int32), "I")
    assert to_rgb(img).mode == "RGB" and np.array_equal(np.asarray(to_rgb(img))[..., 0], eight)
    png = encode(Image.fromarray(wide), "PNG")
    assert inspect_image(png).pixel_sha256 == inspect_image(encode(Image.fromarray(eight), "PNG")).pixel_sha256
    out = np.asarray(decode(as_rgb_jpeg(png)), dtype=np.int16)[..., 0]
    assert np.abs(out - eight).mean() < 3 and (out >= 250).mean() < 0.05  # the ramp, not a white page


# ------------------------------------------------------------------------------------------------------ unusable files


def test_truncated_jpeg_is_excluded():
    data = photo_bytes("truncated", (64, 64))
    check = inspect_image(data[: len(data) // 2])
    assert check.reason is not None and "truncated" in check.reason
    assert check.pixel_sha256 == ""


def test_empty_bytes():
    check = inspect_image(b"")
    assert check.reason == "empty file"
    assert check.sha256 == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("data", [
    b"these are my notes, not a photo\n",
    b"id,label\n1,0\n2,0\n",
    b"\xff\xd8\xff" + b"\x00" * 10,  # a JPEG signature and nothing usable after it
    b"PK\x03\x04 not really a zip",
])
def test_not_an_image_is_excluded(data):
    check = inspect_image(data)
    assert check.reason is not None
    assert "image" in check.reason
    assert check.pixel_sha256 == ""


@pytest.mark.parametrize("size", [(2, 2), (7, 64), (64, 7), (1, 1)])
def test_too_small_image_is_excluded(size):
    check = inspect_image(encode(Image.new("RGB", size, (10, 200, 30)), "PNG"))
    assert check.reason == f"too small ({size[0]}x{size[1]} px)"
    assert (check.width, check.height) == size


def test_smallest_accepted_side():
    check = inspect_image(encode(Image.new("RGB", (MIN_SIDE, MIN_SIDE), (1, 2, 3)), "JPEG"))
    assert check.reason is None


@pytest.mark.parametrize("side", [12_000, 40_000])  # 144 M px: bomb warning; 1.6 G px: bomb error
def test_decompression_bomb_is_excluded_without_decoding_saying_it_is_too_large(side):
    check = inspect_image(png_header_only(side, side))
    assert check.reason == (f"too large ({side * side:,} pixels; the limit is 89,478,485 pixels, about 9,459 x 9,459): "
                            "shrink it to predict or train on it"), check


def test_check_is_a_frozen_record():
    check = inspect_image(b"")
    assert isinstance(check, ImageCheck)
    with pytest.raises(Exception):
        check.reason = None  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------------- pixel hash


def test_pixel_hash_is_equal_for_the_same_pixels_in_different_encodings():
    img = photo_image("same pixels", (40, 32))
    png, bmp = inspect_image(encode(img, "PNG")), inspect_image(encode(img, "BMP"))
    assert png.sha256 != bmp.sha256  # different files ...
    assert png.pixel_sha256 == bmp.pixel_sha256  # ... same picture


def test_pixel_hash_of_gray_equals_that_of_the_same_rgb_picture():
    gray = photo_image("gray pixels", (40, 32), mode="L")
    assert inspect_image(encode(gray, "PNG")).pixel_sha256 == inspect_image(encode(gray.convert("RGB"), "PNG")).pixel_sha256


def test_pixel_hash_differs_for_different_pixels():
    img = photo_image("base", (40, 32))
    changed = img.copy()
    changed.putpixel((0, 0), tuple(255 - c for c in img.getpixel((0, 0))))
    assert inspect_image(encode(img, "PNG")).pixel_sha256 != inspect_image(encode(changed, "PNG")).pixel_sha256
    assert inspect_image(photo_bytes("a")).pixel_sha256 != inspect_image(photo_bytes("b")).pixel_sha256


def test_pixel_hash_includes_the_shape():
    """The same bytes of pixels laid out as 16x8 or 8x16 are different pictures."""
    raw = bytes(range(256)) * 2 + bytes(range(128))  # 16 * 8 * 3 = 384 bytes: a ramp, not a flat colour
    wide, tall = Image.frombytes("RGB", (16, 8), raw[:384]), Image.frombytes("RGB", (8, 16), raw[:384])
    assert wide.tobytes() == tall.tobytes()
    assert inspect_image(encode(wide, "PNG")).pixel_sha256 != inspect_image(encode(tall, "PNG")).pixel_sha256


def test_inspection_is_deterministic():
    data = photo_bytes("again", mode="CMYK")
    assert inspect_image(data) == inspect_image(data)


# -------------------------------------------------------------------------------------------------------- as_rgb_jpeg


@pytest.mark.parametrize("fmt, mode", [("JPEG", "CMYK"), ("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("GIF", "P"), ("JPEG", "L")])
def test_as_rgb_jpeg_decodes_as_an_rgb_jpeg(fmt, mode):
    src = photo_bytes(("convert", fmt, mode), (48, 40), fmt=fmt, mode=mode)
    out = as_rgb_jpeg(src)
    img = decode(out)
    assert img.format == "JPEG" and img.mode == "RGB" and img.size == (48, 40)
    check = inspect_image(out)
    assert check.reason is None and check.converted == ""  # once converted, nothing more to do


def test_as_rgb_jpeg_keeps_the_picture():
    src = photo_image("keep", (48, 40))
    out = np.asarray(decode(as_rgb_jpeg(encode(src, "PNG"))), dtype=np.int16)
    assert np.abs(out - np.asarray(src, dtype=np.int16)).mean() < 8  # JPEG at quality 95: close to the original


def test_as_rgb_jpeg_is_deterministic():
    src = photo_bytes("det", fmt="PNG")
    assert as_rgb_jpeg(src) == as_rgb_jpeg(src)
