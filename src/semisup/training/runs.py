"""What the training stages share: ranks and device, the labelled/validation tensors, the unlabelled stream, DVCLive
and checkpoint locations."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from dvclive import Live

from ..artifacts import save_model
from ..config import Params
from .execution import Execution, join_ranks, leave_ranks, rank_device, ranks_from_env
from ..files import check_writable
from ..data.dali_graph import decode_files
from ..data.folders import unlabeled_files
from ..data.labeled_loader import LabeledLoader, load_labeled
from ..data.unlabeled_stream import UnlabeledStream
from .checkpoint import Checkpoint, fingerprint
from .contract import LabeledData
from .loop import TrainResult
from .timing import split_timing, write_timing

if TYPE_CHECKING:
    from ..data.decoded import DecodedStream

DATA = Path("data")
CACHE = Path("cache")  # decoded tensors (`loader.decode: once`): outside DVC's outputs, like checkpoints/


def setup(params: Params, method: str, stage: str | None = None,
          labeled: bool = True) -> tuple[Execution, Checkpoint, Live | None]:
    """This rank's device and switches (joining the other ranks under torchrun), deterministic kernels where asked,
    a checkpoint keyed on this method's params, and DVCLive without its own dvc.yaml (rank 0 only)."""
    ranks = ranks_from_env()
    device = rank_device(params.train.device, ranks)
    join_ranks(ranks, device)
    if params.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = not params.train.deterministic  # cuDNN's autotuner picks the fastest kernels
    key = fingerprint(params, method, DATA / "labeled.csv" if labeled else None, stage=stage)
    checkpoint = Checkpoint(Path("checkpoints") / f"{method}.pt", key, writer=ranks.is_main)
    if ranks.is_main:  # before any work: a read-only models/ found after training would lose the training
        check_writable("models", "checkpoints", f"dvclive/{method}")
        checkpoint.hold()
    live = Live(dir=f"dvclive/{method}", dvcyaml=False, save_dvc_exp=False) if ranks.is_main else None
    return Execution.from_config(params.train, device, ranks), checkpoint, live


def labeled_data(params: Params, device: torch.device, augment: bool | None = None,
                 calibrate_on_unlabeled: bool = False) -> LabeledData:
    """Decode the labelled set and the validation set once; they stay on the device for the whole run. With
    augmentation (`train.augment`, or `augment=True`) each step gets a new random crop and flip of the whole labelled
    set from the DALI graph instead. With `train.recalibrate_bn`, the images BatchNorm statistics are recomputed on:
    a fixed draw of unlabelled images for the semi-supervised methods, the labelled set for the baseline (which
    sees no unlabelled image)."""
    size, threads = params.image_size, params.loader.num_threads
    x_lab, y_lab = load_labeled(DATA / "labeled", size, device, num_threads=threads)
    x_val, y_val = load_labeled(DATA / "val", size, device, num_threads=threads)
    augmented = None
    if params.train.augment if augment is None else augment:
        loader = LabeledLoader(DATA / "labeled", size, len(y_lab), device, threads, seed=params.seed, augment=True)
        augmented = lambda: whole_pass(loader)  # noqa: E731 - a fresh pass per call
    calibration = None
    if params.train.recalibrate_bn > 0:
        calibration = unlabeled_sample(params, device) if calibrate_on_unlabeled else x_lab
    return LabeledData(x_lab, y_lab, x_val, y_val, augmented, calibration)


def unlabeled_sample(params: Params, device: torch.device) -> torch.Tensor:
    """`train.recalibrate_bn` unlabelled images drawn from `seed` (all of them when there are fewer), in [0, 1]."""
    files = unlabeled_files(DATA / "unlabeled")
    n = min(params.train.recalibrate_bn, len(files))
    chosen = sorted(np.random.default_rng([params.seed, 3]).choice(len(files), n, replace=False))
    images = decode_files([files[i] for i in chosen], params.image_size, device, params.loader.num_threads)
    return images.to(device).float().mul_(1 / 255)


def unlabeled_stream(params: Params, exe: Execution, batch_size: int, augment: bool, max_batches: int,
                     folders: tuple[Path, ...] = (DATA / "unlabeled",),
                     seed: int | None = None) -> UnlabeledStream | DecodedStream:
    """This rank's shard of the unlabelled set (or of `folders`): JPEGs decoded by DALI every epoch (published), or,
    with `loader.decode: once`, uint8 tensors decoded on first use and cached (on the GPU when they fit)."""
    kwargs = dict(seed=params.seed if seed is None else seed, num_threads=params.loader.num_threads, augment=augment,
                  max_batches=max_batches, shard_id=exe.ranks.rank, num_shards=exe.ranks.world_size)
    if params.loader.decode == "once":
        from ..data.decoded import DecodedStream

        return DecodedStream(folders, params.image_size, batch_size, exe.device, cache_dir=CACHE, **kwargs)
    return UnlabeledStream(folders, params.image_size, batch_size, exe.device, **kwargs)


def whole_pass(loader: LabeledLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """One full pass of a loader whose batch holds the whole set, copied out of DALI's buffers (running the pass to
    its end keeps the pipeline for the next call)."""
    (x, y), = [(x.clone(), y.clone()) for x, y in loader]
    return x, y


def finish(method: str, params: Params, exe: Execution, live: Live | None, checkpoint: Checkpoint,
           result: TrainResult) -> None:
    """Rank 0 closes the curves, saves `models/<method>.pt` (its seconds beside it, `training.timing`, so that a
    rerun leaves the file's hash alone) and drops the checkpoint; every rank leaves the group."""
    if exe.ranks.is_main:
        live.end()
        model = Path(f"models/{method}.pt")
        train, timing = split_timing(result.summary())
        save_model(model, method, params, train, result.classifier_state, result.states.get("generator"))
        write_timing(model, timing, result.steps)
        checkpoint.remove()
        print(f"{method}: best validation accuracy {result.val_accuracy:.4f} at epoch {result.best_epoch}/"
              f"{result.epochs_run} ({result.steps} steps)" if result.history and "val_accuracy" in result.history[-1]
              else f"{method}: {result.steps} steps, last state kept (no validation)")
    leave_ranks()
