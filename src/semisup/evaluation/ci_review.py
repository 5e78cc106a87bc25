"""Markdown for a pull-request review comment: the pull request's own comparison against BASE.

    semisup ci-review origin/main --rerun-base --out review.md   # then `cml comment create --publish review.md`
    semisup ci-review HEAD~1 --out review.md                     # quick: against the figures committed at HEAD~1

Three parts, all base vs this checkout: `dvc metrics diff`, `dvc params diff`, and `dvc plots diff` drawn as PNG
images beside the review (`review_plots`; CML uploads the images a comment links to).

Training is deterministic on one CPU model, not across them: the demo's figures moved by up to 7.5 points between
two CPUs. Compared with figures committed on another machine, every pull request would show that noise as change, so
`--rerun-base` (what the review workflow runs) first reproduces the base here, in a temporary git worktree sharing
this checkout's DVC cache, and compares two runs on one machine: what differs then is the pull request's doing.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import PipelineError
from ..files import write_text
from .review_plots import plot_definitions, render_plots

CROSS_CPU_NOTE = ("The base's figures are the ones committed at `{base}`, measured wherever that commit was made: "
                  "training is deterministic per CPU model, not across them (the demo moved by up to 7.5 points "
                  "between two CPUs), so a difference here may be the machine. `semisup ci-review {base} "
                  "--rerun-base` reproduces the base on this machine first.")


def git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=cwd)


def last_line(text: str, fallback: str) -> str:
    return text.strip().splitlines()[-1] if text.strip() else fallback


def ensure_base(base: str) -> str | None:
    """The base commit, fetched if a shallow clone lacks it; None (with the reason) when it cannot be had."""
    if git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").returncode == 0:
        return None
    remote_ref = base.split("/", 1)[1] if base.startswith("origin/") else base
    fetched = git("fetch", "--depth=1", "origin", remote_ref)
    if fetched.returncode == 0 and git("rev-parse", "--verify", "--quiet", "FETCH_HEAD").returncode == 0:
        return None
    return (f"The base `{base}` is not in this clone and could not be fetched "
            f"({last_line(fetched.stderr, 'no remote')}); fetch it first (e.g. `git fetch --depth=1 origin main`).")


def rerun_base(base: str) -> tuple[str | None, str]:
    """(a commit holding the base's outputs as reproduced on this machine, "") or (None, why not).

    The base is checked out in a temporary git worktree, its pipeline run there with its own code (PYTHONPATH: the
    installed package is this checkout's), and its outputs committed on a detached commit that no branch points to,
    so `dvc metrics diff` and `dvc plots diff` read it like any revision. The worktree shares this checkout's DVC
    cache, so stages the pull request left alone can come from the run cache."""
    cache = subprocess.run(["dvc", "cache", "dir"], capture_output=True, text=True).stdout.strip()
    folder = Path(tempfile.mkdtemp(prefix="semisup-base-")) / "base"
    added = git("worktree", "add", "--detach", str(folder), base)
    if added.returncode != 0:
        return None, f"`git worktree add` failed: {last_line(added.stderr, 'no reason given')}"
    try:
        if cache:
            subprocess.run(["dvc", "config", "--local", "cache.dir", cache], cwd=folder, capture_output=True)
        paths = [str(folder / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        done = subprocess.run(["dvc", "repro"], cwd=folder, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"`dvc repro` of `{base}` failed here: {last_line(done.stderr or done.stdout, 'no output')}"
        git("add", "-A", cwd=folder)
        committed = git("-c", "user.name=semisup ci-review", "-c", "user.email=ci-review@localhost", "commit", "-q",
                        "--allow-empty", "--no-verify", "-m", f"{base} reproduced here (ci-review)", cwd=folder)
        if committed.returncode != 0:
            return None, f"could not record the base's outputs: {last_line(committed.stderr, 'git commit failed')}"
        return git("rev-parse", "HEAD", cwd=folder).stdout.strip(), ""
    finally:
        git("worktree", "remove", "--force", str(folder))
        shutil.rmtree(folder.parent, ignore_errors=True)


def dvc_md(*args: str) -> str:
    """A Markdown table, or "" when it has no rows (DVC prints just the header when nothing changed)."""
    done = subprocess.run(["dvc", *args, "--md"], capture_output=True, text=True)
    if done.returncode != 0:
        raise PipelineError(f"`dvc {' '.join(args)}` failed: {done.stderr.strip()}")
    table = done.stdout.strip()
    return table if len(table.splitlines()) > 2 else ""


def plots_diff(base: str) -> dict[str, list[dict[str, Any]]]:
    """`dvc plots diff BASE --json --split`: per plot title, its entries (Vega data or image files)."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["dvc", "plots", "diff", base, "--json", "--split", "-o", tmp],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise PipelineError(f"`dvc plots diff {base}` failed: {done.stderr.strip()}")
        data = json.loads(done.stdout or "{}").get("data", {})
        for entries in data.values():  # image files live in the temporary folder: read them before it goes
            for entry in entries:
                if entry.get("type") == "image" and Path(entry["url"]).is_file():
                    entry["bytes"] = Path(entry["url"]).read_bytes()
    return data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="commit or branch to compare with, e.g. origin/main or HEAD~1")
    parser.add_argument("--out", type=Path, default=Path("review.md"),
                        help="the Markdown file; its plots go to <out stem>-plots/ beside it")
    parser.add_argument("--rerun-base", action="store_true",
                        help="reproduce the base on this machine first (`dvc repro` in a temporary worktree, minutes) "
                             "and compare with that instead of the base's committed figures")


def run(args: argparse.Namespace) -> None:
    parts = [f"## Metrics and params vs `{args.base}`\n"]
    problem = ensure_base(args.base)
    target, base_label = args.base, f"base ({args.base})"
    if not problem and args.rerun_base:
        rerun, why = rerun_base(args.base)
        if rerun:
            target, base_label = rerun, f"base ({args.base}, rerun here)"
            parts.append(f"The base was reproduced on this machine (commit `{rerun[:10]}`): both sides ran on one "
                         "CPU, so every difference below comes from the pull request.\n")
        else:
            parts.append(f"The base could not be reproduced here ({why}). "
                         + CROSS_CPU_NOTE.format(base=args.base) + "\n")
    elif not problem:
        parts.append(CROSS_CPU_NOTE.format(base=args.base) + "\n")
    if problem:
        parts.append(problem)
    else:
        metrics = dvc_md("metrics", "diff", target)
        parts.append(metrics or f"No metric changed, or `{args.base}` has no metrics files yet (nothing to compare).")
        params = dvc_md("params", "diff", target)
        parts += ["\n### Params\n", params or "No param changed."]
        folder = args.out.parent / f"{args.out.stem}-plots"
        shutil.rmtree(folder, ignore_errors=True)  # last run's images would otherwise be published again
        figures = render_plots(plots_diff(target), base_label, folder, plot_definitions())
        parts.append(f"\n### Plots (solid: this PR, dashed: {base_label})\n")
        parts += [f"**{title}**\n\n![{title}]({path.relative_to(args.out.parent).as_posix()})\n" for title, path in figures]
        if not figures:
            parts.append("No plots to compare.")
    write_text(args.out, "\n".join(parts) + "\n")
    print(args.out.read_text())
