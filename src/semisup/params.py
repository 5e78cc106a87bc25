"""Regenerate params.yaml from conf/ exactly as `dvc exp run` composes it (DVC's own Hydra helper).

    python -m semisup.params [OVERRIDE ...]     # e.g. profile=paper labeled.strategy=random
"""
from __future__ import annotations

import sys
from pathlib import Path

from dvc.utils.hydra import compose_and_dump


def compose(output: Path, conf_dir: Path, overrides: list[str]) -> None:
    compose_and_dump(output, str(conf_dir.resolve()), None, "config", str(conf_dir.resolve() / ".." / ".dvc" / "plugins"), overrides)


if __name__ == "__main__":
    compose(Path("params.yaml"), Path("conf"), sys.argv[1:])
    print(Path("params.yaml").read_text(), end="")
