"""The article's experiment on one GPU lease: `gpu-check plan --plan article` builds it here, `gpu-check article`
runs it there (`tools.articlerun`).

The 128-px set (30,000 photos, 154 MiB) travels in three parts, one per call, back to back; the third call joins it
and starts the published recipe (`paper`: curated labelled 100, 1,000 validation, 1,000 test, unsupervised terms
weighted 0.5) at 128 px: the baseline's 200 steps, then the SGAN for as many of the published 100 epochs as the
lease holds, validated every epoch, the test read once per model; then the same with a random labelled set (seed 0)
while time is left. Each training call stops at an epoch boundary before its deadline and the next resumes from the
checkpoint: the published schedule is constant, so a split run is the whole run.

The plan is a file (`article-plan.json`, carried with the last part): the recipe, the jobs, each call's deadline and
the seconds budgeted per piece of work. The commands are the same for the rehearsal (`gpu-check dry-run --plan
article`, in CI), whose tiny plan only differs in that file and in the work folder."""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import PipelineError
from . import lease
from .carry import Call, check_calls, copy_command, device_seconds, pack, rejoin_command
from .recipes import FAST, deep_merge, profile_params

SOURCE = Path("../shared/data/dogs-vs-cats-128px.zip")
PLAN_FILE = "article-plan.json"
OUT_DIR = ".gpucheck/article"
PUBLISHED_EPOCHS = 100  # conf/profile/paper.yaml: gan.epochs
MARGIN_S = 40  # a training call's deadline before its timeout: the epoch or test in flight, the last writes
LEASE_MARGIN_S = 15  # device time the plan leaves unspent


@dataclass(frozen=True)
class Costs:
    """Seconds the plan budgets on the device for each piece of work (`gan_step_s` per step, `validation_s` per GAN
    epoch, the rest once). Basis, all from metrics/gpu/h200-2026-12-04/ unless said otherwise:

    * `gan_step_s`: a GAN step with the fast switches took 31-46 ms at 224 px (bench, three machine starts) and
      37-40 ms at 64 px, where the GPU idles between launches (floor ratio ~110): below 224 px the step is bound by
      its launches, not its FLOPs, so 128 px is budgeted at the slowest 224-px figure, not a third of it.
    * `baseline_s`: 200 steps validated after each took 8.1-12.7 s at 224 px on 500 photos; 1,000 photos at 128 px
      hold 0.65x those pixels.
    * `validation_s`: a GAN validation with its checkpoint took 0.6 s at 224 px on 500 photos.
    * `prepare_s`: the mini set's 4,000 photos took 1.8 s to prepare and draw (x 7.5 for 30,000: 14 s); the 128-px
      set took 61.5 s on a loaded 2-core CPU (measured 2026-12-07).
    * `decode_s`, `cache_s`, `process_s`, `test_s`: allowances, not measured at 128 px (first decoding of 27,857
      photos by nvJPEG; reading that cache back; Python, PyTorch and CUDA starting; one test pass).
    * `compile_s`: the failed compiled run spent 131 s before its first GAN step ran."""

    gan_step_s: float = 0.046
    baseline_s: float = 15.0
    validation_s: float = 1.0
    prepare_s: float = 30.0
    decode_s: float = 40.0
    cache_s: float = 10.0
    process_s: float = 15.0
    test_s: float = 5.0
    compile_s: float = 150.0


@dataclass(frozen=True)
class Budget:
    """What the plan trains: the published recipe at `image_size`, its sizes, and how the calls are timed."""

    image_size: int = 128
    val_size: int = 1000
    test_size: int = 1000
    labeled_size: int = 100
    baseline_epochs: int = 200
    gan_batch_size: int = 64
    gan_max_steps: int = 0  # 0: the whole unlabelled set per epoch, as published
    unlabeled: int = 27_857  # the curated draw's unlabelled photos (measured: `prepare` on the 128-px set here)
    jobs: tuple[tuple[str, str, int], ...] = (("curated", "curated", 0), ("random-0", "random", 0))
    max_gan_epochs: int = PUBLISHED_EPOCHS
    adaptive: bool = True  # chunk epochs by the measured epoch time (False: by the budgeted costs alone)
    compile: bool = False
    costs: Costs = field(default_factory=Costs)
    call_timeouts: tuple[int, ...] = ()  # the training calls' timeouts (empty: CALL_S, then what the lease has left)


FULL = Budget()
# The rehearsal: tiny sizes, the same calls, and costs that make the split between calls the same on any CPU (call 3:
# the curated baseline and GAN epoch 1; call 4: epoch 2, its test, the random draw's baseline; its GAN does not fit).
TINY = Budget(image_size=32, val_size=10, test_size=10, labeled_size=10, baseline_epochs=2, gan_batch_size=8,
              gan_max_steps=1, unlabeled=120, max_gan_epochs=2, adaptive=False,
              costs=Costs(gan_step_s=10.0, baseline_s=6.0, validation_s=0.0, prepare_s=10.0, decode_s=10.0,
                          cache_s=5.0, process_s=10.0, test_s=5.0),
              call_timeouts=(60 + MARGIN_S, 50 + MARGIN_S))


def recipe(budget: Budget) -> tuple[str, dict[str, Any]]:
    """The profile and the overrides every job trains with (the GPU switches change no step of the algorithm)."""
    over: dict[str, Any] = {
        "image_size": budget.image_size,
        "data": {"val_size": budget.val_size, "test_size": budget.test_size},
        "labeled": {"size": budget.labeled_size},
        "baseline": {"epochs": budget.baseline_epochs, "eval_every": 1, "checkpoint_every": budget.baseline_epochs},
        "gan": {"unsupervised_weight": 0.5, "batch_size": budget.gan_batch_size,
                "max_steps_per_epoch": budget.gan_max_steps, "checkpoint_every": 5},
        "train": {**FAST["train"], "compile": budget.compile, "schedule": "constant", "warmup_steps": 0},
        "loader": dict(FAST["loader"]),
    }
    return "paper", over


def job_params(plan: dict[str, Any], job: dict[str, Any], source: Path):
    """A job's params: the plan's recipe with the job's labelled draw, composed and checked like params.yaml."""
    over = deep_merge(plan["overrides"], {"seed": job["seed"], "data": {"source": str(source)},
                                          "labeled": {"strategy": job["strategy"]}})
    return profile_params(plan["profile"], over)


def steps_per_epoch(budget: Budget) -> int:
    steps = budget.unlabeled // budget.gan_batch_size
    return min(steps, budget.gan_max_steps) if budget.gan_max_steps else steps


def epoch_s(budget: Budget) -> float:
    return steps_per_epoch(budget) * budget.costs.gan_step_s + budget.costs.validation_s


def timeouts(budget: Budget, carry_calls: int) -> tuple[int, int]:
    """The two training calls' timeouts: the first the most a call may run, the second what the lease has left when
    the first ran to its limit (each call also pays its transfers, each gap its idle seconds)."""
    if budget.call_timeouts:
        return budget.call_timeouts[0], budget.call_timeouts[1]
    before = lease.START_S + carry_calls * lease.CARRY_CALL_S + (carry_calls + 1) * lease.GAP_S
    second = lease.LEASE_S - LEASE_MARGIN_S - before - lease.CALL_S - 2 * lease.CARRY_CALL_S
    return lease.CALL_S, min(int(second), lease.CALL_S)


def schedule(budget: Budget, deadlines: tuple[float, float]) -> dict[str, Any]:
    """What the two training calls are expected to do with the budgeted costs: the epochs of the first job's GAN that
    fit (the plan's epoch count) and the seconds each call works."""
    c = budget.costs
    first = deadlines[0] - c.process_s - c.prepare_s - c.baseline_s - 2 * c.test_s - c.decode_s - \
        (c.compile_s if budget.compile else 0)
    second = deadlines[1] - c.process_s - c.cache_s - c.test_s - (c.compile_s if budget.compile else 0)
    per = epoch_s(budget)
    in_first, in_second = max(int(first // per), 0), max(int(second // per), 0)
    epochs = min(in_first + in_second, budget.max_gan_epochs)
    if epochs < 1:
        raise PipelineError(f"the lease holds no GAN epoch of {per:.0f} s after the set-up; lower the costs or sizes")
    return {"gan_epochs": epochs, "epoch_s": round(per, 1), "steps_per_epoch": steps_per_epoch(budget),
            "epochs_by_call": [min(in_first, epochs), epochs - min(in_first, epochs)]}


def commands(work: str, first_call: int) -> tuple[tuple[str, str], str]:
    """((the join, the first training call's command), the second's): each reads the plan from `work`."""
    run = (f"set -o pipefail; export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src${{PYTHONPATH:+:$PYTHONPATH}}; "
           "(nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv || echo no nvidia-smi) "
           f"> $OUT/gpu.txt 2>&1; python3 -m semisup gpu-check article {work}/{PLAN_FILE} --call CALL "
           "--out $OUT 2>&1 | tee $OUT/article.log")
    return (f"({rejoin_command(work)})", run.replace("CALL", str(first_call))), run.replace("CALL", str(first_call + 1))


def build(root: Path, source: Path, budget: Budget = FULL, out: str = OUT_DIR, work: str = lease.WORK,
          part_limit: int | None = None, parts_root: Path | None = None
          ) -> tuple[list[Call], dict[str, int], dict[str, Any]]:
    """Parts of `source` in `out` under `parts_root` (default `root`), one per call, the plan file beside the last,
    and the calls in order, each checked against the lending rules with `root`'s working tree. Returns the calls,
    the bytes each sends, and the plan."""
    if not source.is_file():
        raise PipelineError(f"--source: {source} is not a file; the article plan carries the 128-px set "
                            f"({SOURCE} beside the project)")
    parts_root = parts_root or root
    folder = parts_root / out
    shutil.rmtree(folder, ignore_errors=True)
    parts = pack([source], folder, "p", part_limit)
    first_timeout, second_timeout = timeouts(budget, len(parts) - 1)
    deadlines = (first_timeout - MARGIN_S, second_timeout - MARGIN_S)
    if deadlines[1] <= 0:
        raise PipelineError(f"{len(parts)} parts leave the lease no second training call; carry less")
    expected = schedule(budget, deadlines)
    rel = [p.relative_to(parts_root).as_posix() for p in parts]
    train_first, train_second = commands(work, len(parts))
    calls = [Call(f"carry part {k}/{len(parts)} of {source.name} (call the next at once: the machine stays warm "
                  f"~{lease.WARM_S} s)", [r], copy_command(r, work), 60, lease.CARRY_CALL_S)
             for k, r in enumerate(rel[:-1], 1)]
    e1, e2 = expected["epochs_by_call"]
    calls.append(Call(f"carry part {len(parts)}/{len(parts)}, join, prepare, then train until {deadlines[0]:.0f} s: "
                      f"curated baseline and GAN epochs 1-{e1}", [rel[-1]],
                      f"{{ {copy_command(rel[-1], work)} && {train_first[0]}; }} || exit 1; {train_first[1]}",
                      first_timeout,
                      lease.CARRY_CALL_S + int(deadlines[0]), to_deadline=True))
    calls.append(Call(f"resume until {deadlines[1]:.0f} s: curated GAN epochs {e1 + 1}-{e1 + e2}, its test; then the "
                      "random draw while time is left", [], train_second, second_timeout,
                      lease.CARRY_CALL_S + int(deadlines[1]), to_deadline=True))
    profile, overrides = recipe(budget)
    overrides["gan"]["epochs"] = overrides["gan"]["grid_every"] = expected["gan_epochs"]
    plan = {"source": source.name, "profile": profile, "overrides": overrides,
            "jobs": [{"name": n, "strategy": s, "seed": seed} for n, s, seed in budget.jobs],
            "methods": ["baseline", "gan"], "adaptive": budget.adaptive, "costs": asdict(budget.costs),
            "deadlines": {str(len(parts)): deadlines[0], str(len(parts) + 1): deadlines[1]}, "expected": expected,
            "calls": [{"what": c.what, "expected_s": c.expected_s, "timeout_s": c.timeout_s} for c in calls],
            "parts": out}
    for job in plan["jobs"]:  # a param the device would refuse is refused here, before anything is sent
        job_params(plan, job, source)
    (parts[-1] / PLAN_FILE).write_text(json.dumps(plan, indent=2) + "\n")
    sizes = check_calls(root, calls, parts_root)
    (folder / "calls.json").write_text(json.dumps([asdict(c) for c in calls], indent=2) + "\n")
    return calls, sizes, plan


def describe(calls: list[Call], sizes: dict[str, int], plan: dict[str, Any]) -> str:
    """The plan as printed before anything is sent: the recipe, the epochs, each call and the device time."""
    e, over = plan["expected"], plan["overrides"]
    expected, bound = device_seconds(calls)
    lines = [f"Article plan: `{plan['profile']}` at {over['image_size']} px, labelled {over['labeled']['size']} "
             f"(jobs: {', '.join(j['name'] for j in plan['jobs'])}), val {over['data']['val_size']}, test "
             f"{over['data']['test_size']} read once per model, gan.unsupervised_weight="
             f"{over['gan']['unsupervised_weight']}, switches: "
             + ", ".join(f"train.{k}={v}" for k, v in over["train"].items())
             + f", loader.decode={over['loader']['decode']}",
             f"GAN: {e['gan_epochs']} of the published {PUBLISHED_EPOCHS} epochs ({e['steps_per_epoch']} steps of "
             f"{over['gan']['batch_size']}, ~{e['epoch_s']} s each as budgeted), validated every epoch; baseline "
             f"{over['baseline']['epochs']} steps.",
             f"Expected device time: {expected / 60:.1f} min ({expected} s: a start ~{lease.START_S} s, {len(calls)} "
             f"calls, {len(calls) - 1} gaps of ~{lease.GAP_S} s); at most {bound} s if both training calls run to "
             f"their timeouts (the lease is {lease.LEASE_S} s). Sizes per call:"]
    lines += [f"  {name}: {size / lease.MIB:.1f} MiB" for name, size in sizes.items()]
    for k, c in enumerate(calls, 1):
        lines.append(f"\n# call {k}: {c.what} (~{c.expected_s} s)\ncarry: {json.dumps(c.carry)}\n"
                     f"timeout_s: {c.timeout_s}\ncommand: {c.command}")
    lines.append(f"\nThe calls are in {plan['parts']}/calls.json; after each, fetch $OUT (article.json: every result "
                 "so far, article.log, gpu.txt, the GAN's last grids).")
    return "\n".join(lines) + "\n"


def tiny_for(source_bytes: int) -> tuple[Budget, int]:
    """The rehearsal's budget and a part limit that splits its stand-in into three parts, like the 128-px set."""
    return replace(TINY), math.ceil(source_bytes / 3)
