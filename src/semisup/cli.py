"""Shared entry-point wrapper for `stages/*.py`: user errors become one clear line and exit code 2."""
from __future__ import annotations

import sys
from typing import Callable

from .errors import PipelineError


def run_stage(main: Callable[[], None]) -> None:
    try:
        main()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        sys.exit(130)
