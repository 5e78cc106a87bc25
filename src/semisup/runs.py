"""What the training stages share: the device, the labelled/validation tensors, DVCLive and checkpoint locations."""
from __future__ import annotations

from pathlib import Path

import torch
from dvclive import Live

from .config import Params
from .loaders import load_labeled, resolve_device
from .training import Checkpoint, LabeledData, fingerprint

DATA = Path("data")


def setup(params: Params, method: str) -> tuple[torch.device, Checkpoint, Live]:
    """Seeded, deterministic where asked; a checkpoint keyed on this method's params; DVCLive without its own dvc.yaml."""
    device = resolve_device(params.train.device)
    if params.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    checkpoint = Checkpoint(Path("checkpoints") / f"{method}.pt", fingerprint(params, method, DATA / "labeled.csv"))
    live = Live(dir=f"dvclive/{method}", dvcyaml=False, save_dvc_exp=False)
    return device, checkpoint, live


def labeled_data(params: Params, device: torch.device) -> LabeledData:
    """Decode the labelled set and the validation set once; they stay on the device for the whole run."""
    size, threads = params.image_size, params.loader.num_threads
    x_lab, y_lab = load_labeled(DATA / "labeled", size, device, num_threads=threads)
    x_val, y_val = load_labeled(DATA / "val", size, device, num_threads=threads)
    return LabeledData(x_lab, y_lab, x_val, y_val)
