"""How long a training run took, kept beside its model file instead of inside it.

Seconds differ on every rerun while the weights do not: a model file (a DVC output) that held them changed its hash,
and so dvc.lock, on every `dvc repro`. They go to `models/<name>.timing.json` (untracked: `models/` is ignored by git
and only the `.pt` file is a DVC output), with the md5 of the model file they belong to, so a reader can tell a
current file from one left by an earlier run (a stage restored from DVC's run cache writes none).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..files import write_text

KEYS = ("train_seconds", "images_per_second")  # what `TrainResult.summary()` holds that varies with the machine


def timing_path(model: Path) -> Path:
    """models/gan.pt -> models/gan.timing.json"""
    return Path(model).with_name(f"{Path(model).stem}.timing.json")


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def split_timing(summary: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the model file keeps, the seconds and images per second it must not)."""
    return {k: v for k, v in summary.items() if k not in KEYS}, {k: summary[k] for k in KEYS if k in summary}


def write_timing(model: Path, timing: dict[str, Any], steps: int) -> None:
    """The run's seconds beside the model file just written, tied to it by its md5 (what dvc.lock records)."""
    payload = {"model": Path(model).name, "model_md5": file_md5(model), "steps": steps,
               "train_seconds": round(float(timing["train_seconds"]), 2),
               "images_per_second": round(float(timing["images_per_second"]), 1)}
    write_text(timing_path(model), json.dumps(payload, indent=2, sort_keys=True) + "\n")


def read_timing(model: Path) -> dict[str, Any] | None:
    """The seconds of the run that wrote this very model file, or None (no sidecar, an unreadable one, or one left
    by another run: its md5 is not the file's)."""
    try:
        payload = json.loads(timing_path(model).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("model_md5") != file_md5(model):
        return None
    return payload
