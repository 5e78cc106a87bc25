"""Shared entry-point wrapper for `stages/*.py` and the `semisup` command: user errors become one clear line and
exit code 2; Ctrl-C and SIGTERM unwind (temporaries removed, locks released) and end with one line and 130 or 143;
output piped into a reader that stops early (`| head`) ends quietly, as Unix tools do."""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable

from .errors import PipelineError, Terminated


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def catch_sigterm() -> object:
    """SIGTERM becomes `Terminated` in the main thread (a no-op elsewhere: only the main thread may set handlers);
    returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def run_stage(main: Callable[[], None]) -> None:
    previous = catch_sigterm()
    try:
        _run(main)
    finally:
        if previous is not None:  # called in a longer-lived process (tests, a notebook): leave its handler as it was
            signal.signal(signal.SIGTERM, previous)


def _run(main: Callable[[], None]) -> None:
    try:
        main()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Terminated:
        print("terminated (SIGTERM); rerun the same command to resume from the last checkpoint", file=sys.stderr)
        sys.exit(128 + Terminated.signal_number)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # the reader closed the pipe: what it wanted was printed; no traceback, no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit must not fail
        sys.exit(0)
