"""`python -m semisup COMMAND ...`: the user-facing commands (the pipeline's stages run through `dvc repro`).

    python -m semisup predict models/gan.pt data/raw/dogs-vs-cats.zip --out predictions.csv --kaggle submission.csv

A problem the user can fix (a wrong model file, a missing photo folder, ...) is one `error:` line and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .cli import run_stage

# command -> module with HELP, add_arguments(parser) and run(args)
COMMANDS = {"predict": "semisup.predict", "bench": "semisup.bench", "gpu-check": "semisup.gpucheck"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m semisup", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command])
    run_stage(lambda: module.run(args))


if __name__ == "__main__":
    main(sys.argv[1:])
