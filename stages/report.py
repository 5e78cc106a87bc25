"""Collect finished DVC experiments into metrics/report.md and metrics/report.png (run after a sweep).

    dvc exp run --queue -S 'seed=0,1,2' -S 'labeled.strategy=random,curated' && dvc queue start -j 1
    dvc queue status                 # wait until all are Success
    python stages/report.py
"""
import subprocess
from pathlib import Path

import dvc.api

from semisup.cli import run_stage
from semisup.report import improved_recipes, runs_from_exp_show, write_report


def main() -> None:
    # Experiments of every commit, not only HEAD's: a sweep queued before the latest commit still counts.
    commits = int(subprocess.run(["git", "rev-list", "--count", "HEAD"], capture_output=True, text=True).stdout or 1)
    runs = runs_from_exp_show(dvc.api.exp_show(num=commits))
    print(write_report(runs, Path("metrics/report.md"), Path("metrics/report.png"), improved_recipes()))


if __name__ == "__main__":
    run_stage(main)
