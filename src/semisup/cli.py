"""Shared entry-point wrapper for `stages/*.py` and the `semisup` command: user errors become one clear line and
exit code 2; output piped into a reader that stops early (`| head`) ends quietly, as Unix tools do."""
from __future__ import annotations

import os
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
    except BrokenPipeError:  # the reader closed the pipe: what it wanted was printed; no traceback, no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit must not fail
        sys.exit(0)
