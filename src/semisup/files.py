"""Writing outputs so that nothing is ever half-written or written through a link into DVC's cache.

Every file a stage writes goes to a temporary name in the target's folder, is flushed to disk (`fsync`), then
renamed over the target in one step (`os.replace`). A reader never sees half a file, an interrupted write leaves the
old file, and a target that is a hard link or symlink into DVC's cache (`cache.type` links) is replaced rather than
written through, so the cached copy of an earlier output keeps matching its hash.
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import PipelineError

_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _disk_full(exc: BaseException, folder: Path) -> bool:
    """ENOSPC, or a writer (torch.save's zip writer) that reports a failed write while the disk has no room left."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    try:
        return isinstance(exc, RuntimeError) and "write" in str(exc).lower() and os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` (same suffix, for writers that choose a format from it) to write to; when the
    block ends it is flushed and renamed over `path`, and when the block fails it is removed."""
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(f"{folder}: cannot create the folder for {path.name} ({exc.strerror})") from None
    tmp = folder / f".{path.stem}.{os.getpid()}.tmp{path.suffix}"
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # the rename itself survives a power cut once the folder is flushed
            _fsync(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if _disk_full(exc, folder):
            raise PipelineError(f"{path}: the disk is full; free some space and rerun (the previous {path.name}, "
                                "if any, is unchanged)") from None
        if isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE:
            raise PipelineError(f"{path}: cannot be written ({exc.strerror}); make {folder} writable and rerun") from None
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def check_writable(*folders: str | Path) -> None:
    """Stop before any work when an output folder cannot be created or written (a read-only `models/` found only
    after hours of training loses the training)."""
    for folder in map(Path, folders):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".writable-"):
                pass
        except OSError as exc:
            raise PipelineError(f"{folder}: cannot write there ({exc.strerror}); make it writable (or remove what "
                                "blocks it) and rerun. Nothing was trained") from None
