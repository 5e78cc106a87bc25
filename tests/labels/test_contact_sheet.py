"""Contact sheets draw ✓ and ✗ as marks, not empty boxes, and no caption runs into its neighbour's."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from semisup.labels import contact_sheet
from semisup.labels.contact_sheet import Tile, fit, font, font_file, marks, render


def jpeg(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), colour).save(out, format="JPEG")
    return out.getvalue()


def drawn(face, text: str) -> bytes:
    img = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(img).text((4, 4), text, fill=255, font=face)
    return img.tobytes()


def test_the_caption_font_is_dejavu_and_has_the_marks():
    """Pillow's default font has no ✓ or ✗: it drew both as the same empty box."""
    assert drawn(ImageFont.load_default(size=14), "✓") == drawn(ImageFont.load_default(size=14), "✗")
    assert font_file() is not None and font_file().endswith("DejaVuSans.ttf")
    face = font(14)
    assert drawn(face, "✓") != drawn(face, "✗") and any(drawn(face, "✓")) and any(drawn(face, "✗"))
    assert marks() == ("✓", "✗")


def test_without_dejavu_the_marks_fall_back_to_plain_text(monkeypatch):
    monkeypatch.setattr(contact_sheet, "font_file", lambda: None)
    assert marks() == ("ok", "no")
    assert isinstance(font(12), (ImageFont.ImageFont, ImageFont.FreeTypeFont))


def test_captions_are_shortened_to_the_cell_and_keep_both_ends():
    face = font(11)
    long = "a-very-long-photo-name-from-a-phone-IMG_20240101_123456.jpg"
    short = fit(long, 64, face)
    assert face.getlength(short) <= 64 and short.startswith("a-") and short.endswith("jpg") and "…" in short
    assert fit("cat.1.jpg", 200, face) == "cat.1.jpg"


def test_a_sheet_of_long_captions_draws_each_within_its_cell():
    tiles = [Tile(jpeg((200, 0, 0)), ("12  ✗ dog 51.3%", "an-extremely-long-file-name-0001.jpg"), "red"),
             Tile(jpeg((0, 0, 200)), ("13  ✓ cat 52.0%", "another-extremely-long-file-name.jpg"), "green")]
    sheet = render(tiles, thumb=64, columns=2)
    # the gap between the two cells (x from 8 + 64 to 8 + 64 + 8) stays white: the first caption ends before it
    gap = {sheet.getpixel((x, y)) for x in range(8 + 64 + 1, 8 + 64 + 4) for y in range(8 + 64 + 4, sheet.height)}
    assert gap == {(255, 255, 255)}
