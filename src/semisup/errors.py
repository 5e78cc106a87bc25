"""One exception type for problems the user can fix; stages print it as one line instead of a traceback."""


class PipelineError(Exception):
    """Bad input or a bad parameter: the message says which file or key, and what to do."""


class ConfigError(PipelineError):
    """A parameter in params.yaml is wrong."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a scheduler's stop), raised in the main thread like Ctrl-C so that every `finally` and
    temporary-file cleanup runs before the process ends (Python's default would end it on the spot)."""

    signal_number = 15
