"""Resuming: a run's identity (`fingerprint`, from the params its stage declares in dvc.yaml) and its last state
(`Checkpoint`), kept outside DVC's outputs so DVC never deletes them."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..artifacts import refused_code
from ..config import Params
from ..errors import PipelineError
from ..files import atomic_path
from ..typed import dotted

CHECKPOINT_FORMAT = 2  # 2: one loop for every method (`fit`); older checkpoints start fresh


def stage_params(stage: str, dvc_yaml: Path = Path("dvc.yaml")) -> list[str] | None:
    """The params a stage declares in dvc.yaml (`model`, `gan`, `data.source`, ...), or None when it is not there.
    `name@item` reads a `foreach` stage's template with `${key}` (or `${item}`) filled in."""
    import yaml

    name, _, item = stage.partition("@")
    try:
        spec = yaml.safe_load(dvc_yaml.read_text())["stages"][name]
        spec = spec["do"] if item else spec
        declared = spec["params"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None
    return [p.replace("${key}", item).replace("${item}", item) for p in declared if isinstance(p, str)]


def fingerprint(params: Params, method: str, labeled_csv: Path | None, dvc_yaml: Path = Path("dvc.yaml"),
                stage: str | None = None) -> str:
    """Identifies a run for resuming: every param the method's stage declares in dvc.yaml (all params when the
    stage is not found, so nothing it reads is ever left out) plus the labelled set it was given (None: a stage
    that reads no labelled set)."""
    values = asdict(params)
    keys = stage_params(stage or f"train@{method}", dvc_yaml) or sorted(values)
    relevant = {key: dotted(values, key) for key in keys}
    relevant["checkpoint_format"] = CHECKPOINT_FORMAT
    labeled = "" if labeled_csv is None else hashlib.sha256(labeled_csv.read_bytes()).hexdigest()
    blob = json.dumps(relevant, sort_keys=True, default=str) + labeled
    return hashlib.sha256(blob.encode()).hexdigest()


class Checkpoint:
    """Last-epoch state in a file outside DVC's outputs (so DVC never deletes it and keeps its run cache).

    Written atomically (`files.atomic_path`), read with `weights_only=True` (tensors and plain values only: a
    crafted file cannot run code), and a file that cannot be read (a power cut, a full disk) is moved aside with one
    line and training starts fresh. `hold()` locks it for one run at a time."""

    def __init__(self, path: Path, key: str, writer: bool = True):
        self.path, self.key, self.writer = path, key, writer  # every rank reads; only rank 0 writes
        self._lock = None

    def hold(self) -> None:
        """An exclusive lock on this checkpoint for this run (the writer rank): a second run of the same method in
        the same folder (a hand run beside `dvc repro`) stops at once, naming the first, instead of resuming from
        and overwriting its checkpoint. The lock ends with the process, however it ends; its file is removed on
        every exit the process survives (`release`), and one left by a killed run is taken over, in one line."""
        import atexit
        import fcntl

        if not self.writer or self._lock is not None:
            return
        lock = self.lock_path
        lock.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = lock.open("a+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise PipelineError(f"{self.path}: {holder} is training this method in this folder; wait for it to "
                                    "end or stop it, then rerun (two runs would resume from and overwrite one "
                                    "checkpoint)") from None
            try:  # the holder may have removed the file between our open and our lock: then lock the new one
                current = os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            handle.close()
        handle.seek(0)
        if stale := handle.read().strip():
            print(f"{lock}: left by {stale}, which ended without removing it; taken over")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} (`{' '.join(sys.argv)}`, started {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        handle.flush()
        self._lock = handle
        atexit.register(self.release)

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def release(self) -> None:
        """Remove the lock file, then let the lock go (in that order: a run starting in between finds no file and
        makes its own, or finds the removed one and retries)."""
        if self._lock is not None:
            self.lock_path.unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def load(self, device: torch.device) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location=device, weights_only=True)
            if not isinstance(state, dict):
                raise ValueError("not a dict")
        except Exception as exc:  # noqa: BLE001 - truncated, corrupt or unsafe: never resume from it
            why = "holds objects other than tensors and plain values" if refused_code(exc) \
                else f"cannot be read ({type(exc).__name__})"
            if self.writer:  # other ranks read the same file and start fresh alike
                aside = self.path.with_name(f"{self.path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
                self.path.replace(aside)
                print(f"{self.path}: {why}; moved aside to {aside.name}, starting fresh")
            return None
        if state.get("key") != self.key:
            print(f"{self.path}: params or data changed since this checkpoint; starting fresh")
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        if not self.writer:
            return
        with atomic_path(self.path) as tmp:  # an interrupt or a full disk never leaves half a checkpoint
            torch.save({**state, "key": self.key}, tmp)

    @property
    def kept(self) -> Path:
        """Copies of outputs drawn during the run (the GAN's grids), restored on resume."""
        return self.path.with_name(f"{self.path.stem}-kept")

    def keep(self, output: Path) -> None:
        if self.writer:
            self.kept.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(output, self.kept / output.name)

    def restore_kept(self, into: Path) -> None:
        if self.kept.is_dir():
            into.mkdir(parents=True, exist_ok=True)
            for saved in sorted(self.kept.iterdir()):
                if not (into / saved.name).exists():
                    shutil.copyfile(saved, into / saved.name)

    def remove(self) -> None:
        if self.writer:
            self.path.unlink(missing_ok=True)
            shutil.rmtree(self.kept, ignore_errors=True)
        self.release()
