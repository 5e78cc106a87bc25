"""Which device a run uses: `train.device` ("auto", "cpu", "cuda") to a torch device, and DALI's device id for it.

Its own module because the data loaders, the training switches and the tools all ask, and none should reach into
another for it."""
from __future__ import annotations

import torch

from .errors import PipelineError


def resolve_device(name: str) -> torch.device:
    """"auto" (CUDA when available, else the CPU), "cpu" or "cuda" (an error without a usable GPU)."""
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise PipelineError(
                "train.device: cuda was asked for but no CUDA GPU is usable here "
                f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); set train.device: auto or cpu"
            )
        return torch.device("cuda", torch.cuda.current_device())
    raise PipelineError(f"train.device: {name!r} is not a device; use auto, cpu or cuda")


def placement(device: torch.device | str) -> tuple[torch.device, int | None]:
    """The torch device ("auto", "cpu", "cuda" as in resolve_device, or a torch.device) and DALI's device_id:
    None builds a CPU-only pipeline (CUDA never touched), an index puts the graph on that GPU."""
    if isinstance(device, str) and device in ("auto", "cpu", "cuda"):
        device = resolve_device(device)
    device = torch.device(device)
    if device.type == "cpu":
        return device, None
    if device.type != "cuda":
        raise PipelineError(f"{device}: DALI loaders run on cpu or cuda only")
    if not torch.cuda.is_available():
        raise PipelineError(f"{device}: no CUDA GPU is usable here; use device cpu or auto")
    index = torch.cuda.current_device() if device.index is None else device.index
    return torch.device("cuda", index), index
