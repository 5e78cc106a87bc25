"""`semisup COMMAND ...` (or `python -m semisup`): the user-facing commands (the pipeline's stages run through
`dvc repro`).

    semisup predict models/gan.pt data/raw/dogs-vs-cats.zip --out predictions.csv --kaggle submission.csv

A problem the user can fix (a wrong model file, a missing photo folder, ...) is one `error:` line and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .cli import run_stage

# command -> (module with add_arguments(parser) and run(args), one line of help). Only the chosen command's module is
# imported, so `--help` and a mistyped command answer at once instead of after loading PyTorch and DALI.
COMMANDS = {
    "predict": ("semisup.tools.predict",
                "predict cat or dog for photos (folders, zips, single files): a CSV, a Kaggle submission, a contact "
                "sheet"),
    "bench": ("semisup.tools.bench",
              "time data loading, a baseline step, a GAN step and a GAN epoch against the device's FLOP floor"),
    "review": ("semisup.labels.review",
               "contact sheets, a click-to-pick page and the curated list: choose labelled photos by eye"),
    "params": ("semisup.params", "regenerate params.yaml from conf/ with Hydra overrides (profile=paper seed=1 ...), "
                                 "or docs/parameters.md with --reference"),
    "report": ("semisup.evaluation.report",
               "every commit's experiments into metrics/report.md and .png (after a sweep)"),
    "ci-review": ("semisup.evaluation.ci_review",
                  "Markdown for a pull request: metrics, params and plots against a base commit (--rerun-base: the "
                  "base reproduced here first)"),
    "study": ("semisup.evaluation.study",
              "run a study over seeds (one committed result file per run) or report it: table with paired "
              "intervals, curves"),
    "gpu-check": ("semisup.tools.gpucheck",
                  "plan (here), run (on a lent GPU) or dry-run (here, on the CPU) the GPU check, or with --plan "
                  "article the article's 128-px run (article: its device side); report rebuilds the tables"),
}


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """Every command with its help line; only `chosen` gets its arguments (and its module imported)."""
    parser = argparse.ArgumentParser(prog="semisup", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_line) in COMMANDS.items():
        command = sub.add_parser(name, help=help_line, description=help_line)
        if name == chosen:
            importlib.import_module(module_name).add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(chosen if chosen in COMMANDS else None).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    run_stage(lambda: module.run(args))


if __name__ == "__main__":
    main(sys.argv[1:])
