"""Markdown for a pull-request review comment: metrics and params diff against BASE plus the experiments table.

    semisup ci-review origin/main --out review.md   # then e.g. `cml comment create review.md`
    python stages/ci_review.py origin/main --out review.md   # the same, as CI runs it
"""
import argparse
import subprocess
from pathlib import Path

from ..errors import PipelineError
from ..files import write_text


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True)


def ensure_base(base: str) -> str | None:
    """The base commit, fetched if a shallow clone lacks it; None (with the reason) when it cannot be had."""
    if git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").returncode == 0:
        return None
    remote_ref = base.split("/", 1)[1] if base.startswith("origin/") else base
    fetched = git("fetch", "--depth=1", "origin", remote_ref)
    if fetched.returncode == 0 and git("rev-parse", "--verify", "--quiet", "FETCH_HEAD").returncode == 0:
        return None
    return (f"The base `{base}` is not in this clone and could not be fetched "
            f"({fetched.stderr.strip().splitlines()[-1] if fetched.stderr.strip() else 'no remote'}); "
            "fetch it first (e.g. `git fetch --depth=1 origin main`).")


def dvc_md(*args: str) -> str:
    """A Markdown table, or "" when it has no rows (DVC prints just the header when nothing changed)."""
    done = subprocess.run(["dvc", *args, "--md"], capture_output=True, text=True)
    if done.returncode != 0:
        raise PipelineError(f"`dvc {' '.join(args)}` failed: {done.stderr.strip()}")
    table = done.stdout.strip()
    return table if len(table.splitlines()) > 2 else ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="commit or branch to compare with, e.g. origin/main or HEAD~1")
    parser.add_argument("--out", type=Path, default=Path("review.md"))


def run(args: argparse.Namespace) -> None:
    parts = [f"## Metrics and params vs `{args.base}`\n"]
    problem = ensure_base(args.base)
    if problem:
        parts.append(problem)
    else:
        metrics = dvc_md("metrics", "diff", args.base)
        parts.append(metrics or f"No metric changed, or `{args.base}` has no metrics files yet (nothing to compare).")
        params = dvc_md("params", "diff", args.base)
        parts += ["\n### Params\n", params or "No param changed."]
    report = Path("metrics/report.md")
    parts.append("\n" + (report.read_text() if report.is_file() else "No experiments report (run `python stages/report.py`)."))
    write_text(args.out, "\n".join(parts) + "\n")
    print(args.out.read_text())

