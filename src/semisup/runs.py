"""What the training stages share: the device, the labelled/validation tensors, DVCLive and checkpoint locations."""
from __future__ import annotations

from pathlib import Path

import torch
from dvclive import Live

from .config import Params
from .loaders import LabeledLoader, load_labeled, resolve_device
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


def labeled_data(params: Params, device: torch.device, augment: bool | None = None) -> LabeledData:
    """Decode the labelled set and the validation set once; they stay on the device for the whole run. With
    augmentation (`train.augment`, or `augment=True`) each step gets a new random crop and flip of the whole labelled
    set from the DALI graph instead."""
    size, threads = params.image_size, params.loader.num_threads
    x_lab, y_lab = load_labeled(DATA / "labeled", size, device, num_threads=threads)
    x_val, y_val = load_labeled(DATA / "val", size, device, num_threads=threads)
    augmented = None
    if params.train.augment if augment is None else augment:
        loader = LabeledLoader(DATA / "labeled", size, len(y_lab), device, threads, seed=params.seed, augment=True)
        augmented = lambda: whole_pass(loader)  # noqa: E731 - a fresh pass per call
    return LabeledData(x_lab, y_lab, x_val, y_val, augmented)


def whole_pass(loader: LabeledLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """One full pass of a loader whose batch holds the whole set, copied out of DALI's buffers (running the pass to
    its end keeps the pipeline for the next call)."""
    (x, y), = [(x.clone(), y.clone()) for x, y in loader]
    return x, y
