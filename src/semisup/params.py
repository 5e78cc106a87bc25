"""Regenerate params.yaml from conf/ exactly as `dvc exp run` composes it (DVC's own Hydra helper).

    semisup params [OVERRIDE ...]     # e.g. profile=paper labeled.strategy=random  (or python -m semisup.params)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def compose(output: Path, conf_dir: Path, overrides: list[str]) -> None:
    from dvc.utils.hydra import compose_and_dump

    compose_and_dump(output, str(conf_dir.resolve()), None, "config", str(conf_dir.resolve() / ".." / ".dvc" / "plugins"), overrides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides, e.g. profile=paper seed=1")


def run(args: argparse.Namespace) -> None:
    compose(Path("params.yaml"), Path("conf"), args.overrides)
    print(Path("params.yaml").read_text(), end="")


if __name__ == "__main__":
    run(argparse.Namespace(overrides=sys.argv[1:]))
