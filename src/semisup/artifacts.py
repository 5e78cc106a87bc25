"""The saved model file: weights plus everything prediction and evaluation need to use them correctly."""
from __future__ import annotations

import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .config import Params
from .errors import PipelineError
from .files import atomic_path
from .models import Classifier
from .provenance import provenance

FORMAT = "semisup-classifier/1"
CLASSES = ("cat", "dog")


def save_model(path: Path, method: str, params: Params, train: dict[str, Any],
               classifier_state: dict[str, torch.Tensor], generator_state: dict[str, torch.Tensor] | None = None) -> None:
    blob = {
        "format": FORMAT,
        "method": method,
        "arch": "resnet18",
        "stem": params.model.stem,
        "classes": list(CLASSES),
        "value_range": [0.0, 1.0],  # RGB scaled by 1/255, no mean/std (the published preprocessing)
        **provenance(params, method),  # profile, data_source, image_size, strategy, labeled, seed, recipe
        "params": asdict(params),
        "train": train,
        "classifier": {k: v.cpu() for k, v in classifier_state.items()},
        "generator": None if generator_state is None else {k: v.cpu() for k, v in generator_state.items()},
    }
    # Never written in place (the old file may be a link into DVC's cache); through a handle, so the archive's inner
    # folder is torch's fixed "archive", not the temporary file's name (with a pid in it: a new hash every rerun).
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        torch.save(blob, handle)


def refused_code(exc: Exception) -> bool:
    """Whether torch's weights-only unpickler stopped at a global (a class or function: code), rather than at bytes
    that are no pickle at all."""
    return isinstance(exc, pickle.UnpicklingError) and "Unsupported global" in str(exc)


def load_model(path: Path, device: torch.device) -> tuple[Classifier, dict[str, Any]]:
    """The classifier in eval mode and the file's metadata; a wrong file gives one clear message.

    Loaded with `weights_only=True`: only tensors and plain values are unpickled, so a crafted file (the README
    invites fetching other people's models) is refused before any of its code can run."""
    if not Path(path).is_file():
        raise PipelineError(f"{path}: no such model file; train one with `dvc repro`")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not refused_code(exc):
            raise PipelineError(f"{path}: not a model file saved by this project (UnpicklingError)") from None
        raise PipelineError(f"{path}: refused: it holds objects other than weights and plain values (loading it "
                            "could run code); only model files written by this project are loaded") from None
    except Exception as exc:  # zip and torch errors all mean "not a model file we wrote"
        raise PipelineError(f"{path}: not a model file saved by this project ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise PipelineError(f"{path}: not a model file of format {FORMAT}; use models/baseline.pt, models/gan.pt or models/fixmatch.pt")
    model = Classifier(num_classes=len(blob["classes"]), stem=blob.get("stem", "imagenet"))
    try:
        model.load_state_dict(blob["classifier"])
    except RuntimeError as exc:
        raise PipelineError(f"{path}: the weights do not fit a {blob.get('arch')} classifier ({exc})") from None
    meta = {k: v for k, v in blob.items() if k not in ("classifier", "generator")}
    return model.to(device).eval(), meta
