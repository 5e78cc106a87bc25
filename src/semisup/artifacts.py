"""The saved model file: weights plus everything prediction and evaluation need to use them correctly."""
from __future__ import annotations

import pickle
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from .config import Params
from .errors import PipelineError
from .files import atomic_path
from .models import Classifier
from .provenance import provenance
from .typed import build, require

FORMAT = "semisup-classifier/1"
CLASSES = ("cat", "dog")
SIZE_RANGE = (8, 1024)  # what a model here can be trained at (params: 32..1024); beyond, every photo would fail
_CODE = re.compile(r"unsupported global", re.IGNORECASE)  # "Unsupported global: GLOBAL x" / "unsupported GLOBAL x ..."


@dataclass(frozen=True)
class ModelFile:
    """What prediction and evaluation read from a model file's metadata, checked when it is loaded (the file may come
    from someone else's registry): a wrong value is one line naming the file and the key, never a traceback later or
    a silently wrong column."""

    classes: tuple[str, ...]
    image_size: int
    value_range: tuple[float, float]
    classifier: dict[str, Any]
    stem: Literal["imagenet", "small"] = "imagenet"
    arch: Literal["resnet18"] = "resnet18"
    train: dict[str, Any] = field(default_factory=dict)


def check_metadata(blob: dict[str, Any], where: str) -> ModelFile:
    """The checked metadata of a model file's contents; `where` (the file) starts every message."""
    at = f"{where}: "
    meta = build(ModelFile, {k: blob[k] for k in ModelFile.__dataclass_fields__ if k in blob}, prefix=at)
    require(len(meta.classes) >= 2 and len(set(meta.classes)) == len(meta.classes) and all(meta.classes),
            at + "classes", list(meta.classes), "use a list of two or more different names, e.g. ['cat', 'dog']")
    low, high = SIZE_RANGE
    require(low <= meta.image_size <= high, at + "image_size", meta.image_size,
            f"use the side the model was trained at, from {low} to {high} px")
    require(list(meta.value_range) == [0.0, 1.0], at + "value_range", list(meta.value_range),
            "use [0.0, 1.0]: the loaders give pixels scaled to [0, 1]")
    for name, tensor in meta.classifier.items():
        require(isinstance(name, str) and isinstance(tensor, torch.Tensor), at + "classifier", f"{name}: {type(tensor).__name__}",
                "use a mapping of parameter names to tensors (a state_dict)")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise PipelineError(f"{at}classifier: {name} holds NaN or infinite values; a model that diverged "
                                "predicts nothing: re-train it")
    return meta


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
    return isinstance(exc, pickle.UnpicklingError) and bool(_CODE.search(str(exc)))


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
        raise PipelineError(f"{path}: not a model file of format {FORMAT}; use one of models/*.pt written by training")
    checked = check_metadata(blob, str(path))
    model = Classifier(num_classes=len(checked.classes), stem=checked.stem)
    try:
        model.load_state_dict(checked.classifier)
    except RuntimeError as exc:
        why = " ".join(str(exc).split())[:300]
        raise PipelineError(f"{path}: the weights do not fit a {checked.arch} classifier ({why})") from None
    meta = {k: v for k, v in blob.items() if k not in ("classifier", "generator")}
    return model.to(device).eval(), meta
