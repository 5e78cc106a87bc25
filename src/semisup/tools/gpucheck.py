"""`semisup gpu-check`: make the few minutes of a lent GPU count, and a missing GPU cost nothing.

    semisup gpu-check plan                 # here: build the carried parts in .gpucheck/, print the device calls
    python -m semisup gpu-check run ...    # there (the command `plan` prints): tests, bench, 224-px training
    semisup gpu-check dry-run              # here: plan, then `run` on the CPU with a tiny budget (what CI runs)

A lent GPU machine has PyTorch and nothing else of ours (no DALI, DVC, DVCLive or Hydra), takes at most 64 MiB per
call, stays warm only ~30 s between calls and gives 15 minutes in all. So the check is two parts:

1. **One main call** that needs no carried wheel: the mini set's photos (32 MB) travel with the working tree,
   torchvision's decoder (nvJPEG on the GPU) stands in for DALI, and the call runs the `gpu`-marked tests, the
   benchmark at 64 and 224 px, and the `paper` and `improved` recipes' baseline and GAN at 224 px for a fixed number
   of steps (images/s, a GAN epoch extrapolated to 35,000 unlabelled photos, validation accuracy).
2. **DALI afterwards, if time is left**: its wheel and dependencies (~265 MB) take five back-to-back calls; the last
   one installs them and repeats the tests and the loader rows with DALI's `mixed` (nvJPEG) decoding.

Why this order: the main call proves bf16, channels_last, compile, NCCL, the decode-once cache and the training
loops on CUDA in one start, so a failed or slow DALI transfer loses nothing already measured.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

from ..files import write_text


MIB = 1024 * 1024
CALL_LIMIT = 64 * MIB  # working tree + carried paths, per device call
PART_LIMIT = 56 * MIB  # one carried part, leaving room for the working tree
DALI_REQUIREMENT = "nvidia-dali-cuda130==2.4.0"
DEVICE_HAS = ("numpy", "pyyaml", "PyYAML", "packaging", "typing_extensions", "six", "wheel", "torch", "torchvision")
MINI = Path("../shared/data/dogs-vs-cats-mini.zip")
WORK = "/root/w"  # on the device: survives between calls while the machine stays warm
PUBLISHED_UNLABELED = 35_000
TESTS_TIMEOUT_S = 240
START_S, CARRY_CALL_S = 60, 10  # a machine start with the transfer (33 s seen), a call that only copies a part (~6 s)


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


# ---------------------------------------------------------------------------------------------------------- plan


def tree_bytes(root: Path) -> int:
    """Bytes of what a device call sends: tracked files and untracked files git does not ignore."""
    names = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root, check=True,
                           capture_output=True).stdout.decode().split("\0")
    return sum((root / n).stat().st_size for n in names if n and (root / n).is_file())


def download_wheels(requirement: str, into: Path) -> list[Path]:
    """The requirement's wheels for the device (CPython 3.12, x86-64), less what its image already has."""
    into.mkdir(parents=True, exist_ok=True)
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                 "manylinux1_x86_64", "any"]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "-d", str(into), requirement]
    for p in platforms:
        cmd[5:5] = ["--platform", p]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        from ..errors import PipelineError

        raise PipelineError(f"pip could not download {requirement} for the device: "
                            f"{(done.stderr.strip().splitlines() or ['no message'])[-1]}; rerun with --no-dali")
    for wheel in into.glob("*.whl"):
        if wheel.name.split("-")[0].lower() in {n.lower() for n in DEVICE_HAS}:
            wheel.unlink()
    return sorted(into.glob("*.whl"))


def pack(files: list[Path], parts_dir: Path, prefix: str, part_limit: int = PART_LIMIT) -> list[Path]:
    """Files into folders `<prefix>1`, `<prefix>2`, ... of at most `part_limit` bytes each, the largest first;
    a file over the limit is split into `<name>.part.NN` pieces that `join_command` puts back together."""
    pieces: list[tuple[str, bytes | Path, int]] = []
    for f in files:
        size = f.stat().st_size
        if size <= part_limit:
            pieces.append((f.name, f, size))
            continue
        with f.open("rb") as fh:
            for k in range(math.ceil(size / part_limit)):
                chunk = fh.read(part_limit)
                pieces.append((f"{f.name}.part.{k:02d}", chunk, len(chunk)))
    parts: list[tuple[Path, int]] = []
    for name, content, size in sorted(pieces, key=lambda p: -p[2]):
        fits = next((i for i, (_, used) in enumerate(parts) if used + size <= part_limit), None)
        if fits is None:
            parts.append((parts_dir / f"{prefix}{len(parts) + 1}", 0))
            fits = len(parts) - 1
        folder, used = parts[fits]
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, folder / name)
        else:
            (folder / name).write_bytes(content)
        parts[fits] = (folder, used + size)
    return [folder for folder, _ in parts]


def rejoin_command(where: str) -> str:
    """Shell: in `where`, put files split by `pack` back together (and drop their pieces)."""
    return (f"cd {where} && for w in $(ls *.part.00 2>/dev/null); do cat \"${{w%.part.00}}\".part.* > "
            f"\"${{w%.part.00}}\" && rm \"${{w%.part.00}}\".part.*; done && cd - >/dev/null")


def join_command(where: str) -> str:
    """Shell: rejoin the pieces in `where`, then install every wheel there into /root/site (no index, no deps)."""
    return (f"{rejoin_command(where)} && python3 -m pip install -q --no-index --no-deps --no-compile "
            f"--target /root/site {where}/*.whl")


def run_command(extra: str, log: str) -> str:
    env = "export PYTHONUNBUFFERED=1 PYTHONPATH=/root/site:$PWD/src"
    return (f"{env}; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee $OUT/gpu.txt;"
            f" python3 -m semisup gpu-check run --source {WORK}/{MINI.name} --work {WORK}/run --out $OUT {extra}"
            f" 2>&1 | tee $OUT/{log}")


@dataclass
class Call:
    what: str
    carry: list[str]
    command: str
    timeout_s: int
    expected_s: int


def plan_calls(root: Path, source: Path, dali: bool, budget: Budget = FULL) -> tuple[list[Call], dict[str, int]]:
    """Build .gpucheck/ (the data for the main call, DALI's wheels in parts) and the device calls, in order."""
    from ..errors import PipelineError

    if not source.is_file():
        raise PipelineError(f"--source: {source} is not a file; the check trains on the mini set's photos "
                            f"({MINI} beside the project)")
    out = root / ".gpucheck"
    shutil.rmtree(out, ignore_errors=True)
    (out / "main").mkdir(parents=True)
    shutil.copyfile(source, out / "main" / MINI.name)
    main_cmd = f"mkdir -p {WORK} && cp .gpucheck/main/{MINI.name} {WORK}/ && " + run_command("", "run.log")
    calls = [Call("main: tests, bench 64/224 px, paper and improved at 224 px (no DALI)", [".gpucheck/main"],
                  main_cmd, 540, budget.expected_s)]
    if dali:
        parts = pack(download_wheels(DALI_REQUIREMENT, out / "wheels"), out, "dali")
        shutil.rmtree(out / "wheels")
        for k, part in enumerate(parts, 1):
            rel = part.relative_to(root).as_posix()
            cmd = f"mkdir -p {WORK} && cp {rel}/* {WORK}/ && ls {WORK}"
            if k == len(parts):
                cmd += f" && ({join_command(WORK)}) && " + run_command("--dali-only", "run-dali.log")
            calls.append(Call(f"DALI part {k}/{len(parts)}" + (": install, DALI tests and loaders" if k == len(parts)
                                                              else " (call at once: the machine stays warm ~30 s)"),
                              [rel], cmd, 300 if k == len(parts) else 120, 150 if k == len(parts) else CARRY_CALL_S))
    tree = tree_bytes(root)
    sizes = {"working_tree": tree}
    for k, call in enumerate(calls, 1):
        carried = sum(f.stat().st_size for c in call.carry for f in (root / c).rglob("*") if f.is_file())
        sizes[f"call {k} ({', '.join(call.carry)})"] = tree + carried
        if tree + carried > CALL_LIMIT:
            raise PipelineError(f"{call.what}: {(tree + carried) / MIB:.1f} MiB would travel (working tree "
                                f"{tree / MIB:.1f} MiB), over the {CALL_LIMIT / MIB:.1f} MiB a device call takes")
        if len(call.command) > 2000:
            raise PipelineError(f"{call.what}: the command is {len(call.command)} characters, over 2,000")
    (out / "calls.json").write_text(json.dumps([asdict(c) for c in calls], indent=2) + "\n")
    return calls, sizes


def print_plan(calls: list[Call], sizes: dict[str, int]) -> None:
    total = START_S + sum(c.expected_s for c in calls)
    print(f"GPU check: {len(calls)} device call(s), expected device time {total / 60:.1f} min "
          f"(a start ~{START_S} s + the calls; the budget is 15 min). Sizes per call:")
    for name, size in sizes.items():
        print(f"  {name}: {size / MIB:.1f} MiB")
    for k, c in enumerate(calls, 1):
        print(f"\n# call {k}: {c.what} (~{c.expected_s} s)\ncarry: {json.dumps(c.carry)}\ntimeout_s: {c.timeout_s}\n"
              f"command: {c.command}")
    print("\nThe calls are in .gpucheck/calls.json; fetch $OUT (gpu-check.json, bench.json, run.log) after each.")


# ----------------------------------------------------------------------------------------------------------- run


def profile_params(profile: str, overrides: dict[str, Any], conf: Path = Path("conf")):
    """conf/config.yaml with conf/profile/<profile>.yaml and `overrides` merged over it, as Hydra composes them
    (the device has no Hydra), validated like params.yaml."""
    from ..config import params_from_dict
    from ..typed import read_params_file

    base = read_params_file(conf / "config.yaml", "conf/ (run from the project's root)")
    base.pop("defaults", None)
    merged = deep_merge(deep_merge(base, read_params_file(conf / "profile" / f"{profile}.yaml", "conf/profile/")),
                        overrides)
    return params_from_dict(merged)


def environment() -> dict[str, Any]:
    import torch
    import torchvision

    from ..data.loaders import dali_available

    cuda = torch.cuda.is_available()
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "cuda": torch.version.cuda,
            "device": torch.cuda.get_device_name() if cuda else "cpu", "dali": dali_available(),
            "cpu_count": os.cpu_count(), "python": sys.version.split()[0]}


def run_tests(files: list[str], out: Path, work: Path) -> dict[str, Any]:
    """The `gpu`-marked tests in a subprocess (their own CUDA state); counts from pytest's JUnit XML."""
    xml = work / "tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "-rs", f"--junitxml={xml}",
           *files]
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
    """The `prepare` and `curate` stages' functions on the mini set: val/test split, the curated 100, the rest
    unlabelled. Kept between calls on a warm machine (keyed on the source's size and the split sizes)."""
    from ..labels.curated_list import read_curated
    from ..labels.curation import choose_curated, read_pool, write_labeled_sets
    from ..data.ingest import prepare

    key = {"source": source.name, "bytes": source.stat().st_size, "val": budget.val_size, "test": budget.test_size}
    marker = data / "gpu-check.json"
    if marker.is_file() and json.loads(marker.read_text()).get("key") == key:
        return json.loads(marker.read_text())["counts"]
    shutil.rmtree(data, ignore_errors=True)
    curated = Path("data/curation/curated.csv")
    reserved = {item.key for item in read_curated(curated)}
    prepare(source, data, budget.val_size, budget.test_size, 0, reserved)
    pool = read_pool(data / "pool")
    counts = write_labeled_sets(choose_curated(pool, 100, 0, curated, "stop"), pool, data / "test1", data)
    marker.write_text(json.dumps({"key": key, "counts": counts}))
    return counts


def bench(data: Path, budget: Budget, variants: list[str], device, out: Path, work: Path) -> dict[str, Any]:
    from .bench import render, run_bench

    rows, meta = run_bench(list(budget.sizes), device, data / "unlabeled", variants, budget.warmup,
                           budget.repeats, budget.epoch_steps, PUBLISHED_UNLABELED, False, 4, work / "bench-cache")
    table = render(rows, meta)
    print(table, end="")
    result = {**meta, "rows": [{**asdict(r), "ratio": r.ratio} for r in rows]}
    write_text(out / "bench.json", json.dumps(result, indent=2) + "\n")
    return result


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_recipe(name: str, source: Path, data: Path, budget: Budget, device, work: Path,
                 out: Path) -> dict[str, Any]:
    """The recipe's baseline and GAN at `budget.image_size` on the prepared data, as the stages train them (same
    methods through the same loop, `training.fit`, no DVCLive), decoding with DALI where installed, else torchvision."""
    import torch

    from ..data import tvdecode
    from ..data.decoded import DecodedStream, labeled_passes
    from ..training.execution import Execution
    from ..data.loaders import dali_available, decode_files, labeled_files, unlabeled_files
    from ..methods.base import Unlabeled
    from ..methods.baseline import Baseline
    from ..methods.sgan import SemiSupervisedGan
    from ..training.loop import Checkpoint, LabeledData, fit

    profile, overrides = RECIPES[name]
    b = budget
    params = profile_params(profile, deep_merge(overrides, {
        "image_size": b.image_size, "data": {"source": str(source), "val_size": b.val_size, "test_size": b.test_size},
        "baseline": {"epochs": b.baseline_epochs},
        "gan": {"epochs": b.gan_epochs, "max_steps_per_epoch": b.gan_steps_per_epoch, "grid_every": b.gan_epochs}}))
    decoder = decode_files if dali_available() else tvdecode.decode_files
    exe = Execution.from_config(params.train, device)
    torch.use_deterministic_algorithms(params.train.deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not params.train.deterministic

    def tensors(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
        files, labels = labeled_files(folder)
        x = decoder([str(f) for f in files], b.image_size, device, 4).to(device).float().mul_(1 / 255)
        return x, torch.tensor(labels, device=device)

    x_lab, y_lab = tensors(data / "labeled")
    x_val, y_val = tensors(data / "val")
    calibration = None
    if params.train.recalibrate_bn:
        files = unlabeled_files(data / "unlabeled")[:params.train.recalibrate_bn]
        calibration = decoder([str(f) for f in files], b.image_size, device, 4).to(device).float().mul_(1 / 255)
    labeled = LabeledData(x_lab, y_lab, x_val, y_val,
                          labeled_passes(x_lab, y_lab, params.seed) if params.train.augment else None, calibration)
    result: dict[str, Any] = {"profile": profile, "overrides": overrides, "image_size": b.image_size,
                              "decoder": "DALI" if decoder is decode_files else tvdecode.NAME,
                              "unlabeled_stream": "decoded once (loader.decode: once), for every recipe",
                              "labeled": len(y_lab), "val": len(y_val)}
    def unlabeled(max_batches: int, augment: bool) -> DecodedStream:
        return DecodedStream(data / "unlabeled", b.image_size, params.gan.batch_size, device, 4, params.seed,
                             augment=augment, max_batches=max_batches, cache_dir=work / "cache", decoder=decoder)

    def train(p, method: str, ckpt: Checkpoint, samples: Path, max_batches: int, augment: bool):
        if method == "baseline":
            return fit(Baseline(p, exe, labeled), labeled, p, exe, ckpt, None)
        stream = unlabeled(max_batches, augment)
        stream.images()  # decoded before the clock of the first epoch, like a second run on the cache
        result["unlabeled"] = len(stream.files)
        gan = SemiSupervisedGan(p, exe, labeled, Unlabeled(stream.epoch, len(stream)), samples_dir=samples)
        return fit(gan, labeled, p, exe, ckpt, None)

    if params.train.compile:  # compile once, untimed: the timed run then finds inductor's cached kernels
        warm = replace(params, baseline=replace(params.baseline, epochs=2),
                       gan=replace(params.gan, epochs=1, max_steps_per_epoch=2))
        for method in ("baseline", "gan"):
            ckpt = Checkpoint(work / "checkpoints" / "warm-up.pt", key="warm-up")
            ckpt.remove()
            train(warm, method, ckpt, work / "warm-up", 2, False)
            ckpt.remove()
    for method in ("baseline", "gan"):
        ckpt = Checkpoint(work / "checkpoints" / f"{name}-{method}.pt", key="gpu-check")
        ckpt.remove()
        _sync(device)
        began = time.perf_counter()
        r = train(params, method, ckpt, out / f"grids-{name}", params.gan.max_steps_per_epoch, params.train.augment)
        _sync(device)
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


def pipeline_minutes(r: dict[str, Any], gan_epochs: int = 100, baseline_steps: int = 200,
                     scale_val: float = 2.0) -> float:
    """The published pipeline's training on one GPU, extrapolated from a run's measured figures: 100 GAN epochs over
    35,000 unlabelled photos and 200 baseline steps validated after every step. Each validation costs what it cost
    in the run (wall time outside the training steps: validation, checkpoint, grid, per validation), times
    `scale_val` for 1,000 validation photos instead of the run's 500 (an upper bound: checkpoints do not grow).
    Data preparation and the test pass are not included."""
    def per_validation(m: dict[str, Any]) -> float:
        return (m["wall_seconds"] - m["train_seconds"]) / max(len(m["val_curve"]), 1)

    gan, base = r["gan"], r["baseline"]
    gan_s = gan_epochs * (gan["epoch_35k_s"] + scale_val * per_validation(gan))
    base_s = baseline_steps * (base["step_ms"] / 1000 + scale_val * per_validation(base))
    return (gan_s + base_s) / 60


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
    recipes = args.recipes or (["paper"] if args.dali_only else ["paper", "improved-fast"])
    variants = ["published", "fast"] + (["fast+compile"] if args.compile else [])
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("tests", lambda: run_tests(tests, out, work)),
        ("data", lambda: prepare_data(args.source, work / "data", budget)),
        ("bench", lambda: bench(work / "data", budget, variants, device, out, work)),
    ] + [(f"train {name}", lambda name=name: train_recipe(name, args.source, work / "data", budget, device, work, out))
         for name in recipes]
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


def summary(report: dict[str, Any]) -> str:
    """The closing table: what passed, the speed figures against the targets, the training figures."""
    env, steps = report["environment"], report["steps"]
    lines = [f"\nGPU check on {env['device']} (torch {env['torch']}, CUDA {env['cuda']}, DALI "
             f"{'yes' if env['dali'] else 'no'}), {report.get('seconds', 0):.0f} s"]
    for name, s in steps.items():
        lines.append(f"  {name}: {'ok' if s['ok'] else 'FAILED: ' + s['error'][:200]} ({s['seconds']} s)")
    t = steps.get("tests", {}).get("result")
    if t:
        lines.append(f"tests: {t.get('tests', '?')} run, {t.get('failures', '?')} failed, {t.get('errors', '?')} "
                     f"errors, {t.get('skipped', '?')} skipped {t.get('failed') or ''}")
    b = steps.get("bench", {}).get("result")
    if b:
        for r in b["rows"]:
            if r["what"] == "GAN epoch":
                lines.append(f"bench {r['size']} px GAN epoch ({r['variant']}): {r['median_ms'] / 1000:,.1f} s for "
                             f"35,000 unlabelled, {r['images_per_s']:,.0f} img/s, measured/floor "
                             f"{r['ratio']:.1f} (target <= 5)")
    lines.append("| recipe | method | steps | ms/step | images/s | best val acc | GAN epoch @35k | paper pipeline |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, s in steps.items():
        if not name.startswith("train") or not s["ok"]:
            continue
        r = s["result"]
        for method in ("baseline", "gan"):
            m = r[method]
            epoch = f"{m['epoch_35k_s']:,.0f} s" if "epoch_35k_s" in m else "–"
            pipe = f"{r['paper_pipeline_min']:.1f} min (target <= 30)" if method == "gan" else "–"
            lines.append(f"| {name[6:]} | {method} | {m['steps']} | {m['step_ms']:.1f} | {m['images_per_s']:,.0f} | "
                         f"{m['val_accuracy']:.3f} ({r['val']} val) | {epoch} | {pipe} |")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------------------------- report


def report_markdown(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """The GPU figures of docs/speed.md, rebuilt from committed `gpu-check.json` files (one per device call):
    the tests, every bench row, and each trained recipe with the published pipeline's extrapolated time."""
    lines = []
    for name, r in runs:
        env = r["environment"]
        lines.append(f"- `{name}`: {env['device']}, torch {env['torch']}, torchvision {env['torchvision']}, CUDA "
                     f"{env['cuda']}, DALI {'installed' if env['dali'] else 'absent'}; "
                     + "; ".join(f"{k} {'ok' if s['ok'] else 'FAILED'} ({s['seconds']:.0f} s)"
                                 for k, s in r["steps"].items()))
        t = r["steps"].get("tests", {}).get("result")
        if t:
            failed = ", ".join(t.get("failed") or []) or "none"
            lines.append(f"  - `gpu` tests: {t['tests']} collected, {t['skipped']} skipped, failed: {failed}")
        for k, s in r["steps"].items():
            if not s["ok"]:
                lines.append(f"  - {k} failed: `{s['error'].splitlines()[0][:160]}`")
    lines += ["", "| run | size | what | variant | median ms | images/s | measured / floor | note |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in runs:
        b = r["steps"].get("bench", {}).get("result")
        for row in (b or {}).get("rows", []):
            if row["what"] == "matmul":
                continue
            ratio = "–" if row["ratio"] is None else f"{row['ratio']:.1f}"
            lines.append(f"| {name} | {row['size']} | {row['what']} | {row['variant']} | {row['median_ms']:,.1f} | "
                         f"{row['images_per_s']:,.0f} | {ratio} | {row['note']} |")
    lines += ["", "| run | recipe | switches | method | steps | ms/step | best val acc (step) | GAN epoch, 35,000 "
              "unlabelled | published pipeline, extrapolated |", "|" + " --- |" * 9]
    for name, r in runs:
        for k, s in r["steps"].items():
            if not (k.startswith("train") and s["ok"]):
                continue
            res = s["result"]
            switches = ", ".join(f"{a}.{b}={v}" for a, sub in res["overrides"].items() for b, v in sub.items()) or "–"
            for method in ("baseline", "gan"):
                m = res[method]
                # the baseline's "epoch" is one step; the GAN's is a pass of steps / validations steps
                every = 1 if method == "baseline" else m["steps"] // max(len(m["val_curve"]), 1)
                epoch = f"{m['epoch_35k_s']:,.0f} s" if "epoch_35k_s" in m else "–"
                pipe = f"{pipeline_minutes(res):.0f} min" if method == "gan" else "–"
                lines.append(f"| {name} | {k[6:]} | {switches} | {method} | {m['steps']} | {m['step_ms']:.1f} | "
                             f"{m['val_accuracy']:.1%} ({m['best_epoch'] * every}) | {epoch} | {pipe} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------ commands


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", choices=("plan", "run", "dry-run", "report"), help="plan | run | dry-run | report")
    parser.add_argument("results", nargs="*", type=Path, help="report: gpu-check.json files, one per device call")
    parser.add_argument("--source", type=Path, default=MINI, help=f"the photos to train on (default {MINI})")
    parser.add_argument("--no-dali", action="store_true", help="plan: leave DALI's wheels out")
    parser.add_argument("--out", type=Path, default=None, help="run: results folder ($OUT on the device)")
    parser.add_argument("--work", type=Path, default=None, help="run: scratch folder (prepared data, caches)")
    parser.add_argument("--device", default="auto", help="run: auto, cpu or cuda")
    parser.add_argument("--tiny", action="store_true", help="run: the dry run's budget (seconds on a CPU)")
    parser.add_argument("--dali-only", action="store_true", help="run: the DALI follow-up (after its wheels)")
    parser.add_argument("--only", nargs="+", choices=("tests", "data", "bench", "train"), help="run: these steps")
    parser.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), help="run: recipes to train")
    parser.add_argument("--sizes", nargs="+", type=int, help="run: bench image sizes (default 64 224)")
    parser.add_argument("--compile", action="store_true", help="run: add the bench's fast+compile variant")


def run(args: argparse.Namespace) -> None:
    from ..errors import PipelineError

    if args.mode == "plan":
        print_plan(*plan_calls(Path.cwd(), args.source, not args.no_dali))
        return
    if args.mode == "report":
        runs = []
        for path in args.results:
            try:
                runs.append((path.stem, json.loads(path.read_text())))
            except (OSError, ValueError) as exc:
                raise PipelineError(f"{path}: not a readable gpu-check.json ({exc}); give the files `run` "
                                    "wrote") from None
        if not runs:
            raise PipelineError("gpu-check report: name the gpu-check.json files, e.g. metrics/gpu/*/*.json")
        print(report_markdown(runs), end="")
        return
    if args.mode == "run":
        if args.out is None or args.work is None:
            raise PipelineError("gpu-check run: give --out (results) and --work (scratch) folders")
        if not args.source.is_file():
            raise PipelineError(f"--source: {args.source} is not a file (on the device: was the main call's "
                                f"data copied to {WORK}? the machine may have gone cold between calls)")
        run_check(args)
        return
    # dry-run: every carried part built and checked, then the run's steps on the CPU with a tiny budget
    source = args.source if args.source.is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        if source is None:
            from ..config import SyntheticConfig
            from ..data.synthetic import write_synthetic_zip

            print(f"{args.source} not found: the dry run uses stand-in data")
            source = write_synthetic_zip(SyntheticConfig(per_class=200, unlabeled=200, size=64), 0,
                                         Path(tmp) / "stand-in.zip")
        print_plan(*plan_calls(Path.cwd(), source, not args.no_dali))
        out = args.out or Path(tmp) / "out"
        run_check(argparse.Namespace(**{**vars(args), "source": source, "out": out,
                                        "work": args.work or Path(tmp) / "work", "tiny": True, "device": "cpu"}))
        print(f"dry run done; results in {out}" if args.out else "dry run done")
