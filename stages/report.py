"""Collect finished DVC experiments into metrics/report.md and metrics/report.png (run after a sweep).

    dvc exp run --queue -S 'seed=0,1,2' -S 'labeled.strategy=random,curated' && dvc queue start -j 1
    dvc queue status                 # wait until all are Success
    python stages/report.py          # the same as `semisup report`
"""
from semisup.cli import run_stage
from semisup.evaluation.report import run

if __name__ == "__main__":
    run_stage(run)
