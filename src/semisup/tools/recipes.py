"""Training as the stages train, on a machine with PyTorch alone (a lent GPU has no DALI, DVC, DVCLive or Hydra):
params composed from conf/ without Hydra, images decoded by torchvision, and any registered method trained by the
one loop (`training.fit`) through the method registry, exactly as `stages/train.py` wires it, minus the curves."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..methods import method_class

if TYPE_CHECKING:  # PyTorch is imported by what trains, not by what only composes params (the plans)
    import torch

    from ..config import Params
    from ..training.execution import Execution
    from ..training.loop import TrainResult
    from ..training.contract import LabeledData
    from ..training.checkpoint import Checkpoint


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


FAST = {"train": {"amp": True, "channels_last": True, "deterministic": False}, "loader": {"decode": "once"}}
RECIPES = {  # name -> (profile, overrides on top of it)
    "paper": ("paper", {}),  # as published: fp32, deterministic kernels
    "paper-fast": ("paper", FAST),  # the published algorithm with the GPU switches
    "paper-fast-compile": ("paper", deep_merge(FAST, {"train": {"compile": True}})),
    "improved-fast": ("improved", FAST),
}


def profile_params(profile: str, overrides: dict[str, Any], conf: Path = Path("conf")) -> Params:
    """conf/config.yaml with conf/profile/<profile>.yaml and `overrides` merged over it, as Hydra composes them
    (the device has no Hydra), validated like params.yaml."""
    from ..parameters import params_from_dict
    from ..typed import read_params_file

    base = read_params_file(conf / "config.yaml", "conf/ (run from the project's root)")
    base.pop("defaults", None)
    merged = deep_merge(deep_merge(base, read_params_file(conf / "profile" / f"{profile}.yaml", "conf/profile/")),
                       overrides)
    return params_from_dict(merged)


def decoder() -> Callable[..., torch.Tensor]:
    """DALI's decoder where it is installed, else torchvision's (nvJPEG on a GPU)."""
    from ..data import tvdecode
    from ..data.dali_graph import dali_available, decode_files

    return decode_files if dali_available() else tvdecode.decode_files


def decoded(folder: Path, size: int, device: torch.device, decode: Callable[..., torch.Tensor]
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """A labelled folder (labelled, val or test) as images in [0, 1] and labels, both on `device`."""
    import torch

    from ..data.folders import labeled_files

    files, labels = labeled_files(folder)
    x = decode([str(f) for f in files], size, device, 4).to(device).float().mul_(1 / 255)
    return x, torch.tensor(labels, device=device)


def execution(params: Params, device: torch.device) -> Execution:
    """The run's switches on `device`, with the kernels' determinism set as the stages set it."""
    import torch

    from ..training.execution import Execution

    torch.use_deterministic_algorithms(params.train.deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not params.train.deterministic
    return Execution.from_config(params.train, device)


@dataclass
class Folders:
    """Where one run's photos are: its labelled and unlabelled folders, and the validation folder."""

    labeled: Path
    unlabeled: Path
    val: Path


def labeled_data(params: Params, method: str, folders: Folders, exe: Execution,
                 decode: Callable[..., torch.Tensor]) -> LabeledData:
    """What `training.runs.labeled_data` gives the method, from decoded tensors (augmented passes drawn on the
    device instead of DALI's graph)."""
    from ..data.decoded import labeled_passes
    from ..data.folders import unlabeled_files
    from ..training.contract import LabeledData

    cls = method_class(method)
    size, device = params.image_size, exe.device
    x_lab, y_lab = decoded(folders.labeled, size, device, decode)
    x_val, y_val = decoded(folders.val, size, device, decode)
    augment = params.train.augment if cls.augmented_labels is None else cls.augmented_labels
    calibration = None
    if params.train.recalibrate_bn:
        if cls.uses_unlabeled:
            files = unlabeled_files(folders.unlabeled)[:params.train.recalibrate_bn]
            calibration = decode([str(f) for f in files], size, device, 4).to(device).float().mul_(1 / 255)
        else:
            calibration = x_lab
    return LabeledData(x_lab, y_lab, x_val, y_val, labeled_passes(x_lab, y_lab, params.seed) if augment else None,
                       calibration)


def unlabeled_for(method: str, params: Params, exe: Execution, folders: Folders, cache: Path,
                  decode: Callable[..., torch.Tensor], max_batches: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The unlabelled batches a registered method reads (None for one that reads none), decoded once into `cache`
    before any clock starts, as `stages/train.py` builds them with `loader.decode: once`; and what they are."""
    from ..data.decoded import DecodedStream
    from ..training.contract import Unlabeled

    cls = method_class(method)
    if not cls.uses_unlabeled:
        return None, {}
    batch, augment, most = cls.stream_shape(params)
    stream = DecodedStream(folders.unlabeled, params.image_size, batch, exe.device, 4, params.seed, augment=augment,
                           max_batches=most if max_batches is None else max_batches, cache_dir=cache, decoder=decode)
    stream.images()
    return Unlabeled(stream.epoch, len(stream)), {"unlabeled": len(stream.files), "steps_per_epoch": len(stream)}


def train_method(method: str, params: Params, exe: Execution, data: LabeledData, unlabeled: Any,
                 checkpoint: Checkpoint, samples: Path | None = None) -> TrainResult:
    """The registered `method` trained by the one loop (resuming from `checkpoint` when it holds this run)."""
    from ..training.loop import fit

    return fit(method_class(method)(params, exe, data, unlabeled, samples_dir=samples), data, params, exe, checkpoint,
               None)


def test_accuracy(params: Params, state: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                  exe: Execution) -> dict[str, Any]:
    """The kept classifier (the best validated state) on a held-out set: read once per trained model."""
    from ..models import Classifier
    from ..scoring import evaluate

    model = exe.place(Classifier(stem=params.model.stem))
    model.load_state_dict(state)
    ev = evaluate(model, x, y, params.loader.eval_batch_size, exe.amp)
    return {"accuracy": ev.accuracy, "loss": ev.loss, "count": ev.count, "confusion": ev.confusion}


def sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def prepare_photos(source: Path, data: Path, val_size: int, test_size: int,
                   curated: Path = Path("data/curation/curated.csv")) -> dict[str, int]:
    """The `prepare` stage's function: val/test drawn (split seed 0), the curated photos kept out of them, the rest
    in the pool. Kept between calls on a warm machine (keyed on the source's name and size and the split sizes)."""
    from ..data.ingest import prepare, summarize
    from ..labels.curated_list import read_curated

    key = {"source": source.name, "bytes": source.stat().st_size, "val": val_size, "test": test_size}
    marker = data / "prepared.json"
    if marker.is_file() and json.loads(marker.read_text()).get("key") == key:
        return json.loads(marker.read_text())["counts"]
    shutil.rmtree(data, ignore_errors=True)
    counts = summarize(prepare(source, data, val_size, test_size, 0, {i.key for i in read_curated(curated)}))
    marker.write_text(json.dumps({"key": key, "counts": counts}))
    return counts


def draw_labeled(data: Path, into: Path, strategy: str, seed: int, size: int = 100,
                 curated: Path = Path("data/curation/curated.csv")) -> dict[str, int]:
    """The `curate` stage's function on prepared photos: `size` labelled (the curated list, or a random draw from
    `seed`) into `into`/labeled, the rest of the pool and test1 into `into`/unlabeled (kept like `prepare_photos`)."""
    from ..labels.curation import choose_curated, choose_random, read_pool, write_labeled_sets

    key = {"prepared": json.loads((data / "prepared.json").read_text())["key"], "strategy": strategy, "seed": seed,
           "size": size}
    marker = into / "labeled.json"
    if marker.is_file() and json.loads(marker.read_text()).get("key") == key:
        return json.loads(marker.read_text())["counts"]
    pool = read_pool(data / "pool")
    choices = choose_curated(pool, size, seed, curated, "stop") if strategy == "curated" else \
        choose_random(pool, size, seed)
    counts = write_labeled_sets(choices, pool, data / "test1", into)
    marker.write_text(json.dumps({"key": key, "counts": counts}))
    return counts
