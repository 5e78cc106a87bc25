"""Shared fixtures: the real photos beside the project, and small generated Kaggle-shaped downloads.

* `shared_data`, `mini_zip`, `originals`: paths to the real test data in ``../shared/data`` (beside the project root,
  never inside the repository); a test that asks for one is skipped, with the path in the reason, when it is absent.
* `make_photo`: ``make_photo(key, size=(48, 40), fmt="JPEG", mode="RGB") -> bytes``, a small deterministic image whose
  pixels depend only on ``key`` (different keys give different pixels, the same key the same bytes).
* `make_kaggle_zip`: builds a tiny ``dogs-vs-cats.zip`` laid out like Kaggle's (an outer zip holding ``train.zip`` with
  ``train/cat.N.jpg`` + ``train/dog.N.jpg``, ``test1.zip`` with ``test1/N.jpg``, and ``sampleSubmission.csv``), with
  optional extra or replaced members (bad files, duplicates, odd names) and a choice of compression. It returns a
  `KaggleDownload` that knows every member, so a test can account for each input file independently of
  `semisup.data.sources`.

Everything is small (32-64 px) and deterministic: members carry a fixed timestamp, so the same call gives the same bytes.
"""
from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# ----------------------------------------------------------------------------------------------- real data beside us


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the project root (real Kaggle photos); skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (the shared Dogs vs. Cats photos beside the project)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mini_zip(shared_data: Path) -> Path:
    """``dogs-vs-cats-mini.zip``: Kaggle's layout, train.zip (cat/dog N=0..999) + test1.zip (N=1..2000) + csv."""
    path = shared_data / "dogs-vs-cats-mini.zip"
    if not path.is_file():
        pytest.skip(f"real test data not found: {path}")
    return path


@pytest.fixture(scope="session")
def originals(shared_data: Path) -> Path:
    """``originals/``: 100 real photos at their original, non-square sizes (cat.N.jpg, dog.N.jpg, N=1..50)."""
    path = shared_data / "originals"
    if not path.is_dir():
        pytest.skip(f"real test data not found: {path}")
    return path


# ----------------------------------------------------------------------------------------------------- small images


def photo_image(key: object, size: tuple[int, int] = (48, 40), mode: str = "RGB") -> Image.Image:
    """A deterministic picture for `key`: random 8x8 colour blocks scaled up (survives JPEG, differs per key)."""
    rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
    blocks = rng.integers(0, 256, size=(max(1, size[1] // 8), max(1, size[0] // 8), 3), dtype=np.uint8)
    img = Image.fromarray(blocks, "RGB").resize(size, Image.NEAREST)
    return img if mode == "RGB" else img.convert(mode)


def encode(img: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        options.setdefault("quality", 90)
    img.save(out, format=fmt, **options)
    return out.getvalue()


def photo_bytes(key: object, size: tuple[int, int] = (48, 40), fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    """Encoded bytes of `photo_image(key, size, mode)`; e.g. ``mode="CMYK"`` with JPEG, ``fmt="PNG"`` for a PNG."""
    return encode(photo_image(key, size, mode), fmt)


@pytest.fixture(scope="session")
def make_photo() -> Callable[..., bytes]:
    """``make_photo(key, size=(48, 40), fmt="JPEG", mode="RGB") -> bytes`` (see `photo_bytes`)."""
    return photo_bytes


# ------------------------------------------------------------------------------------------- Kaggle-shaped downloads


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A zip of `members` in the given order (not sorted: like real archives), with fixed timestamps."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = compression
            archive.writestr(info, data)
    return out.getvalue()


@dataclass
class KaggleDownload:
    """A generated ``dogs-vs-cats.zip`` and what is inside it (member name -> bytes, at each level)."""

    path: Path
    train: dict[str, bytes] = field(default_factory=dict)  # members of train.zip, e.g. "train/cat.0.jpg"
    test1: dict[str, bytes] = field(default_factory=dict)  # members of test1.zip, e.g. "test1/1.jpg"
    outer: dict[str, bytes] = field(default_factory=dict)  # other members of the outer zip (sampleSubmission.csv, ...)

    def logical_names(self) -> set[str]:
        """Every file as `semisup.data.sources.iter_entries` should name it when given `path`."""
        top = self.path.name
        return (
            {f"{top}/train.zip/{n}" for n in self.train}
            | {f"{top}/test1.zip/{n}" for n in self.test1}
            | {f"{top}/{n}" for n in self.outer}
        )

    def files(self) -> dict[str, bytes]:
        """Logical name -> bytes of every file (what a manifest must account for)."""
        top = self.path.name
        return {
            **{f"{top}/train.zip/{n}": b for n, b in self.train.items()},
            **{f"{top}/test1.zip/{n}": b for n, b in self.test1.items()},
            **{f"{top}/{n}": b for n, b in self.outer.items()},
        }


def kaggle_members(per_class: int, test1: int, size: tuple[int, int] = (48, 40)) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Valid train and test1 members in Kaggle's own (numeric, not sorted-by-name) order; each photo is distinct."""
    train = {f"train/{label}.{i}.jpg": photo_bytes(f"{label}.{i}", size) for label in ("cat", "dog") for i in range(per_class)}
    unlabelled = {f"test1/{i}.jpg": photo_bytes(f"test1.{i}", size) for i in range(1, test1 + 1)}
    return train, unlabelled


@pytest.fixture(scope="session")
def make_kaggle_zip(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., KaggleDownload]:
    """Factory for a tiny Kaggle-shaped download in a fresh temporary folder.

    ``make_kaggle_zip(per_class=6, test1=4, size=(48, 40), train_extra=None, test1_extra=None, outer_extra=None,
    name="dogs-vs-cats.zip", compression=zipfile.ZIP_STORED, inner_compression=zipfile.ZIP_STORED)``

    `train_extra` / `test1_extra` add or replace members of train.zip / test1.zip (full member names, e.g.
    ``{"train/cat.99.jpg": b""}``); `outer_extra` adds members beside the two inner zips. A sampleSubmission.csv is
    always there, as in Kaggle's download. Session-scoped, so module-scoped fixtures can use it too.
    """

    def build(
        per_class: int = 6,
        test1: int = 4,
        size: tuple[int, int] = (48, 40),
        train_extra: dict[str, bytes] | None = None,
        test1_extra: dict[str, bytes] | None = None,
        outer_extra: dict[str, bytes] | None = None,
        name: str = "dogs-vs-cats.zip",
        compression: int = zipfile.ZIP_STORED,
        inner_compression: int = zipfile.ZIP_STORED,
    ) -> KaggleDownload:
        train, unlabelled = kaggle_members(per_class, test1, size)
        train.update(train_extra or {})
        unlabelled.update(test1_extra or {})
        outer = {"sampleSubmission.csv": ("id,label\n" + "".join(f"{i},0\n" for i in range(1, test1 + 1))).encode()}
        outer.update(outer_extra or {})
        path = tmp_path_factory.mktemp("kaggle") / name
        members = {
            "train.zip": zip_bytes(train, inner_compression),
            "test1.zip": zip_bytes(unlabelled, inner_compression),
            **outer,
        }
        path.write_bytes(zip_bytes(members, compression))
        return KaggleDownload(path, train, unlabelled, outer)

    return build
