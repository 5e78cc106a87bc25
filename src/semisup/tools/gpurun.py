"""`gpu-check run`, on the lent GPU: the `gpu` tests, the benchmark, and short 224-px trainings of the recipes on
the mini set, each step timed and kept in `$OUT/gpu-check.json` as it finishes; a failing step is recorded and the
next still runs."""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

from ..files import write_text
from . import recipes
from .gpureport import METHODS, pipeline_minutes, summary

PUBLISHED_UNLABELED = 35_000
TESTS_TIMEOUT_S = 240


@dataclass(frozen=True)
class Budget:
    """How much the run does: the device's budget, or a tiny one for the dry run on the CPU."""

    sizes: tuple[int, ...] = (64, 224)
    warmup: int = 3
    repeats: int = 10
    epoch_steps: int = 20
    image_size: int = 224
    val_size: int = 500
    test_size: int = 500
    gan_epochs: int = 8  # 8 passes over the mini set's ~3,700 unlabelled photos: 456 steps
    gan_steps_per_epoch: int = 0  # 0: whole passes over the unlabelled set
    baseline_epochs: int = 200
    expected_s: int = 230  # the main call's wall time on an H200 (measured 217 s on 2026-12-04)


FULL = Budget()
TINY = Budget(sizes=(32,), warmup=1, repeats=1, epoch_steps=1, image_size=32, val_size=100, test_size=100,
              gan_epochs=1, gan_steps_per_epoch=2, baseline_epochs=2, expected_s=120)


def environment() -> dict[str, Any]:
    import torch
    import torchvision

    from ..data.dali_graph import dali_available

    cuda = torch.cuda.is_available()
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "cuda": torch.version.cuda,
            "device": torch.cuda.get_device_name() if cuda else "cpu", "dali": dali_available(),
            "cpu_count": os.cpu_count(), "python": sys.version.split()[0]}


def run_tests(files: list[str], out: Path, work: Path) -> dict[str, Any]:
    """The `gpu`-marked tests in a subprocess (their own CUDA state); counts from pytest's JUnit XML."""
    xml = work / "tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "-rs", f"--junitxml={xml}",
           "-o", "addopts=", *files]  # pyproject's `-n 2` needs pytest-xdist, which the device machine lacks
    began = time.perf_counter()
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # only our tests' needs, not whatever is installed
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TESTS_TIMEOUT_S)
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:  # a hung compile or collective must not eat the call
        output, code = f"{exc.stdout or ''}{exc.stderr or ''}\nstopped after {TESTS_TIMEOUT_S} s", "timeout"
    write_text(out / "tests.log", output if isinstance(output, str) else output.decode(errors="replace"))
    counts: dict[str, Any] = {"returncode": code, "seconds": round(time.perf_counter() - began, 1)}
    if xml.is_file():
        suite = ET.parse(xml).getroot()
        suite = suite if suite.tag == "testsuite" else suite[0]
        counts.update({k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")})
        counts["failed"] = [c.get("name") for c in suite.iter("testcase")
                            if c.find("failure") is not None or c.find("error") is not None]
    return counts


def prepare_data(source: Path, data: Path, budget: Budget) -> dict[str, int]:
    """The `prepare` and `curate` stages' functions on the mini set: val/test split, the curated 100 labelled, the
    rest unlabelled, all in `data` (kept between calls on a warm machine)."""
    recipes.prepare_photos(source, data, budget.val_size, budget.test_size)
    return recipes.draw_labeled(data, data, "curated", 0)


def bench(data: Path, budget: Budget, variants: list[str], device, out: Path, work: Path) -> dict[str, Any]:
    from .bench import render, run_bench

    rows, meta = run_bench(list(budget.sizes), device, data / "unlabeled", variants, budget.warmup,
                           budget.repeats, budget.epoch_steps, PUBLISHED_UNLABELED, False, 4, work / "bench-cache")
    table = render(rows, meta)
    print(table, end="")
    result = {**meta, "rows": [{**asdict(r), "ratio": r.ratio} for r in rows]}
    write_text(out / "bench.json", json.dumps(result, indent=2) + "\n")
    return result


def train_recipe(name: str, source: Path, data: Path, budget: Budget, device, work: Path,
                 out: Path) -> dict[str, Any]:
    """The recipe's baseline and GAN at `budget.image_size` on the prepared data, through the method registry and
    the one loop as the stages train them (no DVCLive), decoding with DALI where installed, else torchvision."""
    from ..data import tvdecode
    from ..training.checkpoint import Checkpoint

    profile, overrides = recipes.RECIPES[name]
    b = budget
    params = recipes.profile_params(profile, recipes.deep_merge(overrides, {
        "image_size": b.image_size, "data": {"source": str(source), "val_size": b.val_size, "test_size": b.test_size},
        "baseline": {"epochs": b.baseline_epochs},
        "gan": {"epochs": b.gan_epochs, "max_steps_per_epoch": b.gan_steps_per_epoch, "grid_every": b.gan_epochs}}))
    decode = recipes.decoder()
    exe = recipes.execution(params, device)
    folders = recipes.Folders(data / "labeled", data / "unlabeled", data / "val")
    labeled = {m: recipes.labeled_data(params, m, folders, exe, decode) for m in METHODS}
    result: dict[str, Any] = {"profile": profile, "overrides": overrides, "image_size": b.image_size,
                              "decoder": "DALI" if decode is not tvdecode.decode_files else tvdecode.NAME,
                              "unlabeled_stream": "decoded once (loader.decode: once), for every recipe",
                              "labeled": len(labeled["baseline"].y_labeled), "val": len(labeled["baseline"].y_val)}

    def train(p, method: str, ckpt: Checkpoint, samples: Path, max_batches: int):
        unlabeled, about = recipes.unlabeled_for(method, p, exe, folders, work / "cache", decode, max_batches)
        result.update(about)
        return recipes.train_method(method, p, exe, labeled[method], unlabeled, ckpt, samples)

    if params.train.compile:  # compile once, untimed: the timed run then finds inductor's cached kernels
        warm = replace(params, baseline=replace(params.baseline, epochs=2),
                       gan=replace(params.gan, epochs=1, max_steps_per_epoch=2))
        for method in METHODS:
            ckpt = Checkpoint(work / "checkpoints" / "warm-up.pt", key="warm-up")
            ckpt.remove()
            train(warm, method, ckpt, work / "warm-up", 2)
            ckpt.remove()
    for method in METHODS:
        ckpt = Checkpoint(work / "checkpoints" / f"{name}-{method}.pt", key="gpu-check")
        ckpt.remove()
        recipes.sync(device)
        began = time.perf_counter()
        r = train(params, method, ckpt, out / f"grids-{name}", params.gan.max_steps_per_epoch)
        recipes.sync(device)
        wall = time.perf_counter() - began
        ckpt.remove()
        step_s = r.train_seconds / max(r.steps, 1)
        result[method] = {"steps": r.steps, "train_seconds": round(r.train_seconds, 2), "wall_seconds": round(wall, 2),
                          "step_ms": round(1000 * step_s, 2), "images_per_s": round(r.images_per_second, 1),
                          "val_accuracy": r.val_accuracy, "best_epoch": r.best_epoch,
                          "val_curve": [round(h["val_accuracy"], 4) for h in r.history]}
        if method == "gan":
            steps = math.ceil(PUBLISHED_UNLABELED / params.gan.batch_size)
            result[method]["epoch_35k_s"] = round(steps * step_s, 1)
    result["paper_pipeline_min"] = round(pipeline_minutes(result), 1)
    return result


def run_check(args: argparse.Namespace) -> None:
    """The steps on this machine; each is timed and kept, and a failing one is recorded while the next still runs."""
    import torch

    from ..device import resolve_device

    budget = TINY if args.tiny else FULL
    out, work = args.out, args.work
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    print(f"gpu-check run on {device} ({'tiny' if args.tiny else 'full'} budget): expected ~{budget.expected_s} s"
          + (" on an H200" if not args.tiny else ""))
    report: dict[str, Any] = {"environment": environment(), "budget": asdict(budget), "steps": {}}
    tests = ["tests/tools/test_gpu.py"] + (["tests/data/test_loaders.py"] if args.dali_only else [])
    if args.dali_only:  # DALI's rows and one short paper run fed by DALI
        budget = replace(budget, sizes=(budget.image_size,), gan_epochs=1, baseline_epochs=20)
    if args.sizes:
        budget = replace(budget, sizes=tuple(args.sizes))
    names = args.recipes or (["paper"] if args.dali_only else ["paper", "improved-fast"])
    variants = ["published", "fast"] + (["fast+compile"] if args.compile else [])
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("tests", lambda: run_tests(tests, out, work)),
        ("data", lambda: prepare_data(args.source, work / "data", budget)),
        ("bench", lambda: bench(work / "data", budget, variants, device, out, work)),
    ] + [(f"train {name}", lambda name=name: train_recipe(name, args.source, work / "data", budget, device, work, out))
         for name in names]
    steps = [(name, step) for name, step in steps if not args.only or name.split()[0] in args.only]
    began = time.perf_counter()
    for name, step in steps:
        t0 = time.perf_counter()
        print(f"[{time.perf_counter() - began:6.1f} s] {name} ...", flush=True)
        try:
            value = step()
            report["steps"][name] = {"ok": True, "seconds": round(time.perf_counter() - t0, 1), "result": value}
        except Exception as exc:  # noqa: BLE001 - one step's failure is recorded, the next still runs
            report["steps"][name] = {"ok": False, "seconds": round(time.perf_counter() - t0, 1),
                                     "error": f"{type(exc).__name__}: {exc}"[:2000]}
            print(f"  {name} FAILED: {type(exc).__name__}: {exc}", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        write_text(out / "gpu-check.json", json.dumps(report, indent=2, default=str) + "\n")
    report["seconds"] = round(time.perf_counter() - began, 1)
    write_text(out / "gpu-check.json", json.dumps(report, indent=2, default=str) + "\n")
    print(summary(report), end="")
