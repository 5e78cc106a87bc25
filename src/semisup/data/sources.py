"""Walk every file of a Kaggle download in any of its forms, without unpacking it to disk.

Kaggle's `dogs-vs-cats.zip` holds `train.zip` and `test1.zip`, which are read in place (members of a zip are opened as
seekable streams); a folder is walked the same way, with any zip inside it opened too. Each file is yielded once, with
a logical name such as `train.zip/train/cat.123.jpg`, so the manifest can account for every input file.

Nothing is unpacked without a bound (a zip bomb: 9 MB of zip holding 2 GiB of zeros): a file may unpack to at most
`FILE_MAX` bytes (an inner zip to `INNER_ZIP_MAX`), and a member over `RATIO_FLOOR` bytes at most `RATIO_MAX` times
its packed size (photos barely compress). A member over a limit is an `Entry` with `refused` set, reported with the
other unreadable files; a member whose header lies is stopped while it streams (`Refused`, an OSError).
"""
from __future__ import annotations

import errno
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

from ..errors import PipelineError

FILE_MAX = 256 << 20  # bytes one photo (or csv) may unpack to: 10x the largest JPEG Pillow would decode
INNER_ZIP_MAX = 64 << 30  # bytes an inner zip may unpack to (Kaggle's train.zip: 569 MB)
RATIO_MAX = 100  # unpacked / packed size: JPEGs and PNGs are already compressed (about 1:1)
RATIO_FLOOR = 1 << 20  # a member smaller than this may compress as well as it likes (a csv of ids)
CHUNK = 1 << 20

KAGGLE_HINT = (
    "Download it with `kaggle competitions download -c dogs-vs-cats -p data/raw` and set "
    "data.source: data/raw/dogs-vs-cats.zip (train.zip, an extracted folder, or `synthetic` also work)"
)

_LABELLED = re.compile(r"^(cat|dog)[._](\d+)\.(jpe?g|png)$", re.IGNORECASE)
_UNLABELLED = re.compile(r"^(\d+)\.(jpe?g|png)$", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    """One input file: its logical name and a way to read its bytes (opened only when needed)."""

    name: str
    read: Callable[[], bytes]
    refused: str = ""  # why it is not read at all (over a size limit), or "" for a file to read


class Refused(OSError):
    """A member that unpacks to more than its limit while it streams (its header understated it)."""

    def __init__(self, reason: str):
        super().__init__(errno.EFBIG, reason)


def size_text(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _over_limit(unpacked: int, packed: int, limit: int) -> str:
    """Why a member of these sizes is not unpacked, or ""."""
    if unpacked > limit:
        return f"refused: unpacks to {size_text(unpacked)}, over the {size_text(limit)} limit for one file"
    if unpacked > RATIO_FLOOR and unpacked > RATIO_MAX * max(packed, 1):
        return (f"refused: {size_text(packed)} that unpack to {size_text(unpacked)} (over {RATIO_MAX}:1, a zip "
                "bomb?); photos barely compress")
    return ""


@dataclass(frozen=True)
class Identity:
    """What a Kaggle file name says: label (`cat`, `dog` or None for unlabelled `test1`) and numeric id."""

    label: str | None
    kaggle_id: int


def parse_name(name: str) -> Identity | None:
    """`train/cat.123.jpg` -> cat 123; `test1/678.jpg` -> unlabelled 678; anything else -> None."""
    base = name.rsplit("/", 1)[-1]
    m = _LABELLED.match(base)
    if m:
        return Identity(m.group(1).lower(), int(m.group(2)))
    m = _UNLABELLED.match(base)
    if m and "test" in name.lower():
        return Identity(None, int(m.group(1)))
    return None


def train_zip_siblings(path: Path) -> list[Path]:
    """A path to `train.zip` brings `test1.zip` beside it when there is one (Kaggle's two inner archives)."""
    sibling = path.with_name("test1.zip")
    return [path, sibling] if path.name == "train.zip" and sibling.is_file() else [path]


def iter_entries(source: str | Path) -> Iterator[Entry]:
    """Every file under `source` (a zip, a folder, or a single image), in a deterministic order."""
    path = Path(source)
    if not path.exists():
        raise PipelineError(f"data.source: {str(source)!r} does not exist. {KAGGLE_HINT}")
    if path.is_dir():  # a broken symlink is a file that cannot be read: reported, never silently left out
        for child in sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink()):
            rel = child.relative_to(path).as_posix()
            yield from file_entries(child, rel)
        return
    for member in train_zip_siblings(path):
        yield from file_entries(member, member.name)


def file_entries(path: Path, name: str) -> Iterator[Entry]:
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                yield from _zip_entries(archive, name)
        except zipfile.BadZipFile:
            yield _file_entry(path, name)  # reported as "not an image" by the checks, not silently skipped
        return
    yield _file_entry(path, name)


def _file_entry(path: Path, name: str) -> Entry:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # a broken link: reading it says why
    refused = _over_limit(size, size, FILE_MAX)
    return Entry(name, _refuse(refused) if refused else path.read_bytes, refused)


def _refuse(reason: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise Refused(reason)

    return read


def _zip_entries(archive: zipfile.ZipFile, prefix: str) -> Iterator[Entry]:
    # Archive order, not sorted: a stored inner zip is read through the outer stream, where every backward seek
    # re-reads the member from its start (Python < 3.12). The order is still fixed for a given archive.
    infos = [i for i in archive.infolist() if not i.is_dir()]
    for info in infos:
        name = f"{prefix}/{info.filename}"
        if info.filename.lower().endswith(".zip"):
            refused = _over_limit(info.file_size, info.compress_size, INNER_ZIP_MAX)
            try:
                if not refused:
                    with _open_member(archive, info) as stream, zipfile.ZipFile(stream) as inner:
                        yield from _zip_entries(inner, name)
                    continue
            except zipfile.BadZipFile:
                pass
            except Refused as exc:
                refused = exc.strerror
            if refused:
                yield Entry(name, _reader(archive, info, refused), refused)
                continue
        refused = _over_limit(info.file_size, info.compress_size, FILE_MAX)
        yield Entry(name, _reader(archive, info, refused), refused)


def _open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    """A stored inner zip is read in place; a compressed one is spooled once to a temporary file, because seeking
    backwards in a compressed stream restarts decompression (quadratic on 37,500 members)."""
    if info.compress_type == zipfile.ZIP_STORED:
        return archive.open(info)
    spool = tempfile.TemporaryFile()
    try:
        with archive.open(info) as stream:
            for chunk in _chunks(stream, INNER_ZIP_MAX):
                spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _chunks(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    """The stream's bytes, stopped with `Refused` as soon as they pass `limit` (never more than a chunk over)."""
    total = 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise Refused(f"refused: unpacks to more than the {size_text(limit)} limit for one file")
        yield chunk


def _reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, refused: str = "") -> Callable[[], bytes]:
    def read() -> bytes:
        if refused:
            raise Refused(refused)
        with archive.open(info) as stream:
            return b"".join(_chunks(stream, FILE_MAX))

    return read


# ------------------------------------------------------------------------------------------------------ fingerprint


def fingerprint_source(source: str | Path) -> dict[str, object]:
    """What identifies the data source's content, for DVC to re-run `prepare` when it changes at the same path: the
    SHA-256 of the file (Kaggle's zip, `train.zip`), or of every file's relative path and content in a folder; the
    stand-in data is identified by its params and generator code, which `prepare` already depends on."""
    import hashlib

    if str(source) == "synthetic":
        return {"source": "synthetic"}
    path = Path(source)
    if not path.exists():
        raise PipelineError(f"data.source: {source!r} does not exist. {KAGGLE_HINT}")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest, total = hashlib.sha256(), 0
    for f in files:
        if path.is_dir():
            digest.update(f"{f.relative_to(path).as_posix()}\0".encode())
        with f.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
                total += len(chunk)
    return {"source": str(source), "files": len(files), "bytes": total, "sha256": digest.hexdigest()}
