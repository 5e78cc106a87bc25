"""Collect finished DVC experiments into metrics/report.md and metrics/report.png (run after a sweep).

    dvc exp run --queue -S 'seed=0,1,2' -S 'labeled.strategy=random,curated' && dvc queue start -j 1
    dvc queue status                 # wait until all are Success
    python stages/report.py
"""
from pathlib import Path

import dvc.api

from semisup.cli import run_stage
from semisup.report import runs_from_exp_show, write_report


def main() -> None:
    runs = runs_from_exp_show(dvc.api.exp_show())
    print(write_report(runs, Path("metrics/report.md"), Path("metrics/report.png")))


if __name__ == "__main__":
    run_stage(main)
