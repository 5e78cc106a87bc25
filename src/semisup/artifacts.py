"""The saved model file: weights plus everything prediction and evaluation need to use them correctly."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .config import Params
from .errors import PipelineError
from .models import Classifier

FORMAT = "semisup-classifier/1"
CLASSES = ("cat", "dog")


def save_model(path: Path, method: str, params: Params, train: dict[str, Any],
               classifier_state: dict[str, torch.Tensor], generator_state: dict[str, torch.Tensor] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "format": FORMAT,
        "method": method,
        "arch": "resnet18",
        "stem": params.model.stem,
        "classes": list(CLASSES),
        "image_size": params.image_size,
        "value_range": [0.0, 1.0],  # RGB scaled by 1/255, no mean/std (the published preprocessing)
        "data_source": params.data.source,
        "strategy": params.labeled.strategy,
        "seed": params.seed,
        "params": asdict(params),
        "train": train,
        "classifier": {k: v.cpu() for k, v in classifier_state.items()},
        "generator": None if generator_state is None else {k: v.cpu() for k, v in generator_state.items()},
    }, path)


def load_model(path: Path, device: torch.device) -> tuple[Classifier, dict[str, Any]]:
    """The classifier in eval mode and the file's metadata; a wrong file gives one clear message."""
    if not Path(path).is_file():
        raise PipelineError(f"{path}: no such model file; train one with `dvc repro`")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # pickle, zip and torch errors all mean "not a model file we wrote"
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
