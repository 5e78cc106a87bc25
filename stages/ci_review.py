"""Markdown for a pull-request review comment (see `semisup.evaluation.ci_review`): metrics and params diff against BASE plus the
experiments table.

    python stages/ci_review.py origin/main --out review.md   # the same as `semisup ci-review origin/main ...`
"""
import argparse

from semisup.evaluation.ci_review import add_arguments, run
from semisup.cli import run_stage

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    arguments = parser.parse_args()
    run_stage(lambda: run(arguments))
