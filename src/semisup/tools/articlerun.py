"""`gpu-check article`, on the lent GPU: the article plan's jobs, resumed where the last call stopped.

Each call works until its deadline (the plan's, per call): the photos prepared once, then for each job (the curated
draw, then the random one) each method (the baseline, then the GAN) trained in chunks of whole epochs that fit before
the deadline, by the measured epoch time (or, in the rehearsal, by the budgeted one alone, so the split is the same
on any CPU), each chunk resuming from the last one's checkpoint; a finished model's test is read once. Everything
known so far is in `$OUT/article.json` the moment it is known (a call's $OUT starts empty: the file holds every
call's results), and in the work folder for the next call."""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from ..errors import PipelineError
from ..files import write_text
from . import recipes
from .article import job_params
from .gpurun import environment


class Clock:
    """Seconds spent in this call against its deadline: the real clock, or (not adaptive) the sum of the budgeted
    costs of what was done, which makes the rehearsal's decisions the same on any machine."""

    def __init__(self, deadline_s: float, adaptive: bool):
        self.deadline_s, self.adaptive = deadline_s, adaptive
        self.began, self.charged = time.perf_counter(), 0.0

    @property
    def spent(self) -> float:
        return time.perf_counter() - self.began if self.adaptive else self.charged

    def charge(self, seconds: float) -> None:
        self.charged += seconds

    def fits(self, seconds: float) -> bool:
        return self.spent + seconds <= self.deadline_s

    def rounds(self, round_s: float, setup_s: float, reserve_s: float) -> int:
        """Whole rounds of `round_s` that fit after `setup_s`, leaving `reserve_s` (the test) before the deadline."""
        left = self.deadline_s - self.spent - setup_s - reserve_s
        return max(int(left // round_s), 0) if round_s > 0 else 0


def read_plan(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PipelineError(f"the plan file {path} cannot be read ({type(exc).__name__}): was the call carrying the "
                            "last part run? A machine left idle over ~30 s is given back with its files") from None


def with_epochs(params, method: str, epochs: int):
    """The same run stopped after `epochs` rounds: with a constant schedule, its first rounds are the whole run's."""
    if params.train.schedule != "constant" or params.train.warmup_steps:
        raise PipelineError("the article plan splits runs between calls: it needs train.schedule=constant and no "
                            "warm-up")
    return replace(params, **{method: replace(getattr(params, method), epochs=epochs)})


def run_key(params, method: str, job: str) -> str:
    """Identifies a job's run across calls: every param except how many rounds this chunk runs."""
    import hashlib

    values = asdict(params)
    values[method].pop("epochs")
    return hashlib.sha256(json.dumps([job, method, values], sort_keys=True, default=str).encode()).hexdigest()


def summary_rows(state: dict[str, Any]) -> str:
    lines = ["| job | method | epochs | best val (epoch) | test | images/s | train s |", "|" + " --- |" * 7]
    for job, methods in state["jobs"].items():
        for method, m in methods.items():
            test = f"{m['test']['accuracy']:.1%}" if m.get("test") else "pending"
            best = f"{m['best_val']:.1%} ({m['best_epoch']})" if m.get("best_val") is not None else "–"
            lines.append(f"| {job} | {method} | {m['rounds']}/{m['planned']} | {best} | {test} | "
                         f"{m.get('images_per_s', 0):,.0f} | {m.get('train_seconds', 0):,.1f} |")
    return "\n".join(lines) + "\n"


class Run:
    """One call's work on the plan: the state kept in the work folder, mirrored to $OUT after every event."""

    def __init__(self, plan_path: Path, call: int, out: Path):
        self.plan = read_plan(plan_path)
        self.source = plan_path.parent / self.plan["source"]
        self.work, self.out = plan_path.parent / "article", out
        deadline = self.plan["deadlines"].get(str(call))
        if deadline is None:
            raise PipelineError(f"--call {call}: the plan has training calls {', '.join(self.plan['deadlines'])}")
        self.clock = Clock(float(deadline), self.plan["adaptive"])
        self.costs = self.plan["costs"]
        self.state_path = self.work / "state.json"
        self.state = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {"calls": [], "jobs": {}}
        self.call = {"call": call, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "deadline_s": deadline,
                     "environment": environment(), "events": []}
        self.state["calls"].append(self.call)
        self.decode = None
        self.compiled: set[str] = set()  # methods compiled in this call (the compile is paid once each)

    def event(self, what: str) -> None:
        """A line in the log and in the call's record, and everything known so far written out at once."""
        self.call["events"].append({"at_s": round(time.perf_counter() - self.clock.began, 1), "what": what})
        self.call["seconds"] = round(time.perf_counter() - self.clock.began, 1)
        print(f"[{self.call['seconds']:6.1f} s] {what}", flush=True)
        self.work.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"plan": self.plan, **self.state}, indent=2, default=str) + "\n"
        write_text(self.state_path, json.dumps(self.state, indent=2, default=str) + "\n")
        write_text(self.out / "article.json", text)

    def run(self, device: torch.device) -> None:
        from ..data import tvdecode

        e = self.plan["expected"]
        self.event(f"call {self.call['call']}: works until {self.clock.deadline_s:.0f} s "
                   f"({'by the measured epoch time' if self.clock.adaptive else 'by the budgeted costs'}); the plan: "
                   f"{e['gan_epochs']} GAN epochs of ~{e['epoch_s']} s, {e['epochs_by_call']} by call")
        if not self.source.is_file():
            raise PipelineError(f"{self.source} is not there: was it joined (the call carrying its last part)? A "
                                "machine left idle over ~30 s is given back with its files")
        self.decode = tvdecode.decode_files  # the device has no DALI; the rehearsal decodes alike
        self.clock.charge(self.costs["process_s"])
        data = self.work / "data"
        cached = (data / "prepared.json").is_file()
        over = self.plan["overrides"]
        counts = recipes.prepare_photos(self.source, data, over["data"]["val_size"], over["data"]["test_size"])
        self.clock.charge(0 if cached else self.costs["prepare_s"])
        self.event(f"photos {'already ' if cached else ''}prepared: {counts}")
        for job in self.plan["jobs"]:
            if not self.job(job, device, data):
                self.event("deadline reached: the next call resumes here")
                break
        else:
            self.event("every job done")
        print(summary_rows(self.state), end="")

    def job(self, job: dict[str, Any], device: torch.device, data: Path) -> bool:
        """The job's methods, each to its end or to the deadline; False when the deadline stopped it."""
        params = job_params(self.plan, job, self.source)
        done = self.state["jobs"].setdefault(job["name"], {})
        pending = [m for m in self.plan["methods"] if not done.get(m, {}).get("test")]
        if not pending:
            return True
        folder = data / job["name"]
        counts = recipes.draw_labeled(data, folder, job["strategy"], job["seed"], params.labeled.size)
        folders = recipes.Folders(folder / "labeled", folder / "unlabeled", data / "val")
        exe = recipes.execution(params, device)
        for method in pending:
            if not self.method(job["name"], method, params, exe, folders, counts):
                return False
        return True

    def method(self, job: str, method: str, params, exe, folders: recipes.Folders, counts: dict[str, int]) -> bool:
        """One method of a job: chunks of whole rounds while they fit (in the adaptive clock, the first chunk of a
        method never measured is 2 rounds, to measure it), then its test, read once. False at the deadline."""
        from ..training.checkpoint import Checkpoint

        total, c = getattr(params, method).epochs, self.costs
        m = self.state["jobs"][job].setdefault(method, {"rounds": 0, "planned": total, "labeled": counts})
        gan_like = method != "baseline"
        planned = self.plan["expected"]["epoch_s"] if gan_like else c["baseline_s"] / total
        round_s = m.get("round_s", planned) if self.clock.adaptive else planned
        setup = (c["cache_s"] if m["rounds"] else c["decode_s"]) if gan_like else 0.0
        if params.train.compile and method not in self.compiled:
            setup += c["compile_s"]
        if m["rounds"] < total and self.clock.rounds(round_s, setup, c["test_s"]) < 1:
            return False
        data = recipes.labeled_data(params, method, folders, exe, self.decode)
        unlabeled, about = recipes.unlabeled_for(method, params, exe, folders, self.work / "cache", self.decode)
        self.clock.charge(setup)
        self.compiled.add(method)
        m.update(about)
        ckpt = Checkpoint(self.work / "checkpoints" / f"{job}-{method}.pt", run_key(params, method, job))
        samples = self.work / "grids" / job if gan_like else None
        result = None
        while result is None or m["rounds"] < total:
            n = min(self.clock.rounds(round_s, 0.0, c["test_s"]), total - m["rounds"])
            if self.clock.adaptive and "round_s" not in m:
                n = min(n, 2)
            if m["rounds"] < total and n < 1:
                return False
            began = time.perf_counter()  # n = 0: every round was run; the kept state is read back for the test
            result = recipes.train_method(method, with_epochs(params, method, m["rounds"] + n), exe, data, unlabeled,
                                          ckpt, samples)
            wall = time.perf_counter() - began
            self.clock.charge(n * round_s)
            m.update(rounds=result.epochs_run, steps=result.steps, train_seconds=round(result.train_seconds, 2),
                     images_per_s=round(result.images_per_second, 1), best_val=result.val_accuracy,
                     best_epoch=result.best_epoch,
                     val_curve=[round(h["val_accuracy"], 4) for h in result.history if "val_accuracy" in h])
            if n:
                m["round_s"] = round(wall / n, 4)  # the chunk's wall time per round: checkpoints included
                m["chunks"] = m.get("chunks", []) + [{"call": self.call["call"], "rounds": n, "wall_s": round(wall, 1)}]
                if self.clock.adaptive:
                    round_s = m["round_s"]
                self.event(f"{job} {method}: {m['rounds']}/{total} epochs, best val {result.val_accuracy:.4f} at "
                           f"epoch {result.best_epoch} ({wall / n:.2f} s per epoch)")
            if samples is not None:
                self.copy_grid(samples, job)
        x_test, y_test = recipes.decoded(folders.val.parent / "test", params.image_size, exe.device, self.decode)
        m["test"] = recipes.test_accuracy(params, result.classifier_state, x_test, y_test, exe)
        self.clock.charge(c["test_s"])
        ckpt.remove()
        self.event(f"{job} {method}: test accuracy {m['test']['accuracy']:.4f} on {m['test']['count']} photos "
                   "(read once)")
        return True

    def copy_grid(self, samples: Path, job: str) -> None:
        grids = sorted(samples.glob("*.png"))
        if grids:
            shutil.copyfile(grids[-1], self.out / f"grid-{job}.png")


def run_article(plan: Path, call: int, out: Path, device_name: str = "auto") -> None:
    """One call's work; a failure is recorded in $OUT/article.json before it ends the call."""
    from ..device import resolve_device

    out.mkdir(parents=True, exist_ok=True)
    run = Run(plan, call, out)
    try:
        run.run(resolve_device(device_name))
    except Exception as exc:
        run.event(f"FAILED: {type(exc).__name__}: {str(exc)[:1000]}")
        raise
