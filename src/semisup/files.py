"""Writing outputs so that nothing is ever half-written or written through a link into DVC's cache.

Every file a stage writes goes to a temporary name in the target's folder, is flushed to disk (`fsync`), then
renamed over the target in one step (`os.replace`). A reader never sees half a file, an interrupted write leaves the
old file, and a target that is a hard link or symlink into DVC's cache (`cache.type` links) is replaced rather than
written through, so the cached copy of an earlier output keeps matching its hash. `atomic_paths` does the same for a
set of outputs that belong together (all new, or the old ones as they were). A temporary is removed on every exit
the process survives (SIGTERM included: `cli.run_stage` turns it into an exception); one left by a killed process
(SIGKILL, a power cut) carries that process's id and is removed by `check_writable` at the next start.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .errors import PipelineError

_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
_TEMPORARY = re.compile(r"^\.(?P<stem>.+)\.(?P<pid>\d+)\.tmp(?P<suffix>\.[^.]+)?$")  # `_temporary`'s names
_NEARLY_FULL = 1 << 20  # bytes: a writer that failed with less than this left had run out of room


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _disk_full(exc: BaseException, folder: Path) -> bool:
    """ENOSPC, or a writer that reports a failed write in its own words while the disk has no room left: torch.save's
    zip writer says `[enforce fail at inline_container.cc:672] . unexpected pos ...` or `... file write failed`.
    Asked while the failed temporary still holds its space (after it is removed, the disk has room again)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(exc).lower()
    if not isinstance(exc, RuntimeError) or not any(w in text for w in ("write", "unexpected pos", "no space")):
        return False
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _NEARLY_FULL


def _temporary(path: Path) -> Path:
    """Beside `path`, hidden, named by this process (so a stale one can be told from one in use), same suffix."""
    return path.parent / f".{path.stem}.{os.getpid()}.tmp{path.suffix}"


def _make_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(f"{path.parent}: cannot create the folder for {path.name} ({exc.strerror})") from None


def _failed(exc: BaseException, targets: list[Path], temporaries: list[Path]) -> None:
    """Remove the temporaries (asking about the disk before their space is freed), then say why in one line."""
    full = any(_disk_full(exc, folder) for folder in dict.fromkeys(t.parent for t in targets))
    for tmp in temporaries:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    names = ", ".join(str(t) for t in targets)
    kept = f"the previous {targets[0].name}, if any, is unchanged" if len(targets) == 1 else \
        "none of them was written; the previous ones, if any, are unchanged"
    if full:
        raise PipelineError(f"{names}: the disk is full; free some space and rerun ({kept})") from None
    if isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE:
        folder = Path(exc.filename).parent if exc.filename else targets[0].parent
        raise PipelineError(f"{names}: cannot be written ({exc.strerror}); make {folder} writable and rerun"
                            + ("" if len(targets) == 1 else f" ({kept})")) from None


def _commit(temporaries: list[Path], targets: list[Path]) -> None:
    for tmp in temporaries:
        _fsync(tmp)
    for tmp, path in zip(temporaries, targets):
        os.replace(tmp, path)
    for folder in {p.parent for p in targets}:  # the renames survive a power cut once the folder is flushed
        with contextlib.suppress(OSError):
            _fsync(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` (same suffix, for writers that choose a format from it) to write to; when the
    block ends it is flushed and renamed over `path`, and when the block fails it is removed."""
    path = Path(path)
    _make_folder(path)
    tmp = _temporary(path)
    try:
        yield tmp
        _commit([tmp], [path])
    except BaseException as exc:
        _failed(exc, [path], [tmp])
        raise


@contextlib.contextmanager
def atomic_paths() -> Iterator[Callable[[str | Path], Path]]:
    """Outputs that belong together, as one unit: `tmp = stage(path)` gives a temporary to write each to; when the
    block ends every one is flushed, then all are renamed over their targets; when it fails (a full disk on the
    second file, an interrupt, an error) every temporary is removed and every old output is left as it was."""
    targets: list[Path] = []
    temporaries: list[Path] = []

    def stage(path: str | Path) -> Path:
        path = Path(path)
        _make_folder(path)
        targets.append(path)
        temporaries.append(_temporary(path))
        return temporaries[-1]

    try:
        yield stage
        _commit([t for t in temporaries if t.exists()], [p for t, p in zip(temporaries, targets) if t.exists()])
    except BaseException as exc:
        if targets:
            _failed(exc, targets, temporaries)
        raise


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Temporaries in `folder` left by processes that no longer run (killed before they could remove them)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    removed = []
    for name in names:
        match = _TEMPORARY.match(name)
        if match and not _running(int(match["pid"])):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
                removed.append(folder / name)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # someone else's process, or not a pid at all: leave it
        return True
    return True


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def check_writable(*folders: str | Path) -> None:
    """Stop before any work when an output folder cannot be created or written (a read-only `models/` found only
    after hours of training loses the training); remove the temporaries a killed run left there, in one line."""
    stale: list[Path] = []
    for folder in map(Path, folders):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".writable-"):
                pass
        except OSError as exc:
            raise PipelineError(f"{folder}: cannot write there ({exc.strerror}); make it writable (or remove what "
                                "blocks it) and rerun. Nothing was trained") from None
        stale += remove_stale_temporaries(folder)
    if stale:
        print(f"removed {plural(len(stale), 'temporary file')} left by an interrupted run: "
              f"{', '.join(map(str, stale))}", file=sys.stderr)



def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 photo`, `2 photos`, `0 photos` (`nouns` for an irregular plural)."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def printable(name: str) -> str:
    """A file name as UTF-8 text: the bytes of a name that is not valid UTF-8 (which Python keeps as lone
    surrogates, `bad\\udcffname.jpg`) written as `\\xff` escapes, so a CSV or a terminal never fails on it."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
