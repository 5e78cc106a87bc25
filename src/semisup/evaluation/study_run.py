"""`semisup study run`: train and measure each arm for each seed, every finished run one small committed file.

It sets `seed` (Hydra: `profile=<params.yaml's profile> seed=k`), lets `dvc repro train@<arm> ...` bring every stage
those arms need up to date (curate per seed; `pretrain` once, it reads no seed), reads the test set once per trained
model and writes `<out>/<arm>-seed<k>.json`: the params that define the run, the git revision, the data's hash, the
CPU, the metrics, the validation curve, each test photo's probability and the seconds. A study spans sessions and
machines: finished results are skipped. With `--images`, each method that reads unlabelled photos runs at each budget
of unlabelled images seen (`<arm>@<images>-seed<k>.json`), the baseline once.
"""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config import Params
from ..errors import ConfigError
from ..files import write_text

BASELINE = "baseline"


def seed_range(text: str) -> list[int]:
    """"0-5" or "0,2,4" -> seeds; one clear line for anything else."""
    try:
        seeds = [s for part in text.split(",") for s in (
            range(int(part.split("-")[0]), int(part.split("-")[1]) + 1) if "-" in part else [int(part)])]
    except ValueError:
        raise ConfigError(f"--seeds: {text!r} is not a list of seeds; use e.g. 0-5 or 0,2,4") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError(f"--seeds: {text!r} gives no seed >= 0; use e.g. 0-5")
    return seeds


def image_budgets(text: str) -> list[int]:
    """"12800,64000" -> [12800, 64000] (ascending, each once); one clear line for anything else."""
    try:
        budgets = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"--images: {text!r} is not a list of image counts; use e.g. 12800,64000") from None
    if not budgets or budgets[0] <= 0:
        raise ConfigError(f"--images: {text!r} gives no positive count; use e.g. 12800,64000")
    return budgets


def result_path(out: Path, arm: str, seed: int) -> Path:
    return out / f"{arm}-seed{seed}.json"


def compact_json(result: dict[str, Any]) -> str:
    """The result as indented JSON, with long lists of numbers (the per-photo test probabilities) on one line each, so
    a committed file stays readable and small."""
    long = {k: v for k, v in result.items() if isinstance(v, list) and len(v) > 50}
    text = json.dumps({k: (f"@@{k}@@" if k in long else v) for k, v in result.items()}, indent=1)
    for key, values in long.items():
        text = text.replace(f'"@@{key}@@"', json.dumps(values, separators=(",", ":")))
    return text + "\n"


def data_identity(params: Params, source: dict[str, Any]) -> str:
    """The photos' SHA-256 (from `data/source.json`); the stand-in has no file to hash, so it is named by a hash of the
    settings that generate it (`data.synthetic.*`), which keeps a plain-stand-in study apart from a busy one."""
    if "sha256" in source:
        return source["sha256"]
    if params.data.source == "synthetic":
        spec = json.dumps(asdict(params.data.synthetic), sort_keys=True)
        return "synthetic-" + hashlib.sha256(spec.encode()).hexdigest()
    return "unknown"


def machine(threads: int, cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU a run's seconds (and its last decimals) belong to: training is deterministic on one CPU model only."""
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text(errors="replace").splitlines()
                                                        if cpuinfo.is_file() else []) if line.startswith("model name")]
    return ", ".join([*names[:1], platform.machine(), f"{threads} threads"])


def _git_revision() -> str:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "src", "stages", "conf"],
                           capture_output=True, text=True).stdout.strip()
    return (rev or "unknown") + ("+changes" if dirty else "")


def _check(command: list[str]) -> None:
    print("$ " + " ".join(command), flush=True)
    done = subprocess.run(command)
    if done.returncode != 0:
        raise ConfigError(f"`{' '.join(command)}` failed (exit {done.returncode}); see its output above")


def measure(arm: str, seed: int, wall: float, overrides: tuple[str, ...] = (), budget: int | None = None) -> dict[str, Any]:
    """One trained model read once on the test set, with what defines and describes its run: the unlabelled images
    it saw (its optimiser steps x the unlabelled images a step reads) and the budget it was given, and each test
    photo's predicted probability of class 1 (with the labels), so intervals can resample test photos too."""
    import torch

    from ..artifacts import load_model
    from ..parameters import default_params, load_params
    from ..scoring import evaluate
    from ..provenance import model_provenance
    from ..data.labeled_loader import load_labeled
    from ..device import resolve_device
    from ..methods import method_class

    params = load_params()
    device = resolve_device(params.train.device)
    model, meta = load_model(Path(f"models/{arm}.pt"), device)
    x_test, y_test = load_labeled(Path("data/test"), meta["image_size"], device, num_threads=params.loader.num_threads)
    test = evaluate(model, x_test, y_test, params.loader.eval_batch_size, params.train.amp)
    source = json.loads(Path("data/source.json").read_text()) if Path("data/source.json").is_file() else {}
    train = meta["train"]
    cls = method_class(meta["method"])
    facts = model_provenance(meta, default_params())  # profile, data source, size, strategy, labels, seed, recipe: from the model
    if facts["seed"] != seed:
        raise ConfigError(f"models/{arm}.pt was trained with seed {facts['seed']}, not {seed}; run the study again")
    result = {
        "arm": arm, **facts, "overrides": list(overrides), "data_sha256": data_identity(params, source),
        **({"synthetic": asdict(params.data.synthetic)} if params.data.source == "synthetic" else {}),
        "val_images": params.data.val_size,
        "test_images": test.count, "test_accuracy": round(test.accuracy, 6), "test_loss": round(test.loss, 6),
        "val_accuracy": train["val_accuracy"], "best_step": train.get("best_step", train["best_epoch"]),
        "steps": train["steps"], "budget": budget, "unlabeled_images": train["steps"] * cls.unlabeled_per_step(params),
        "unlabeled_pool": unlabeled_pool(Path("data/unlabeled")),
        "train_seconds": round(run_seconds(Path(f"models/{arm}.pt"), wall), 1), "wall_seconds": round(wall, 1),
        "git_revision": _git_revision(), "machine": machine(torch.get_num_threads()),
        "params": {k: v for k, v in asdict(params).items() if k in ("model", "train", "loader", arm)},
        "curve": [[row["step"], round(row["val_accuracy"], 4)] for row in dvclive_curve(arm)],
        "test_labels": y_test.cpu().tolist(),
        "test_probabilities": [round(p, 6) for p in test.probabilities[:, 1].tolist()],
    }
    pretrained = getattr(cls, "pretrained", None)  # a method that starts from an encoder
    if pretrained is not None:  # the pretraining's steps and seconds belong to the run's cost
        pre = torch.load(Path(pretrained), weights_only=True)
        result["pretrain"] = {"steps": pre["train"]["steps"], "seconds": round(run_seconds(Path(pretrained), 0.0), 1),
                              "images": pre["train"]["steps"] * pre["params"]["pretrain"]["batch_size"],
                              "params": pre["params"]["pretrain"]}
    return result


def run_seconds(model: Path, fallback: float) -> float:
    """The training seconds of the run that wrote this model file (kept beside it, `training.timing`); a file
    restored from DVC's run cache has none of its own: `fallback`, said in one line."""
    from ..training.timing import read_timing

    timing = read_timing(model)
    if timing is None:
        print(f"warning: {model} has no training seconds beside it (restored from DVC's run cache?); recording "
              f"{fallback:.0f} s (the wall time of its repro) instead")
        return fallback
    return float(timing["train_seconds"])


def unlabeled_pool(folder: Path) -> int:
    """How many unlabelled photos the training stages could draw from (what one pass over them is)."""
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def dvclive_curve(arm: str) -> list[dict[str, float]]:
    """The validation curve DVCLive wrote for this arm's run: (step, val_accuracy) rows."""
    path = Path(f"dvclive/{arm}/plots/metrics/val_accuracy.tsv")
    if not path.is_file():
        return []
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    return [{"step": int(float(r[0])), "val_accuracy": float(r[1])} for r in rows]


VALIDATIONS = 20  # validated rounds of a budgeted run, whatever its length (the study's 200 steps: every 10)


def budget_label(arm: str, budget: int | None) -> str:
    """An arm's name in result files and tables: `gan`, or `gan@64000` for a run given 64,000 unlabelled images."""
    return arm if budget is None else f"{arm}@{budget}"


def run_study(seeds: list[int], arms: list[str], out: Path, profile: str, force: bool = False,
              overrides: tuple[str, ...] = (), budgets: Sequence[int] = ()) -> None:
    """Per seed: params.yaml for `profile`, the seed and `overrides` (Hydra's `key=value`), `dvc repro` of the arms'
    training stages, then each model read once on the test set into `<out>/<arm>-seed<k>.json`. With `budgets`
    (unlabelled images seen), each arm that reads unlabelled images runs once per budget (its own section's steps
    set by its method class, `VALIDATIONS` validated rounds) into `<out>/<arm>@<images>-seed<k>.json`; the others
    (the baseline) run once, the flat reference every budget is paired with."""
    from ..parameters import load_params
    from ..methods import method_class, names

    unknown = [a for a in arms if a not in names()]
    if unknown:
        raise ConfigError(f"--arms: {', '.join(unknown)} not registered; use some of {', '.join(names())}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot hold the results ({e.strerror}); give a folder") from None
    for seed in seeds:
        base = [f"profile={profile}", f"seed={seed}", *overrides]
        _check([sys.executable, "-m", "semisup", "params", *base])
        params = load_params()
        budgeted = [a for a in arms if budgets and method_class(a).unlabeled_per_step(params) > 0]
        plan: list[tuple[int | None, list[str], list[str]]] = [(None, [a for a in arms if a not in budgeted], [])]
        plan += [(b, budgeted, [o for a in budgeted for o in method_class(a).budget_overrides(params, b, VALIDATIONS)])
                 for b in budgets]  # every budget's overrides are checked before the first run starts
        for budget, group, extra in plan:
            todo = [a for a in group if force or not result_path(out, budget_label(a, budget), seed).is_file()]
            if not todo:
                if group:
                    print(f"seed {seed}: {', '.join(budget_label(a, budget) for a in group)} already measured in {out}")
                continue
            began = time.perf_counter()
            if extra:
                _check([sys.executable, "-m", "semisup", "params", *base, *extra])
            _check(["dvc", "repro", *[f"train@{a}" for a in todo]])
            wall = time.perf_counter() - began
            for arm in todo:
                result = measure(arm, seed, wall / len(todo), overrides, budget)
                label = budget_label(arm, budget)
                write_text(result_path(out, label, seed), compact_json(result))
                print(f"{label} seed {seed}: test accuracy {result['test_accuracy']:.4f} ({result['test_images']} "
                      f"photos, {result['unlabeled_images']} unlabelled images seen, {result['train_seconds']:.0f} s)")
                if budget is not None and result["unlabeled_images"] != budget:
                    print(f"warning: {label} seed {seed} saw {result['unlabeled_images']} unlabelled images, not "
                          f"{budget}: a round is capped at one pass over the unlabelled set; the result says so")
        if budgets:  # leave params.yaml as the study's own profile and seed, not the last budget's
            _check([sys.executable, "-m", "semisup", "params", *base])
