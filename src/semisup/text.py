"""Words for messages: plurals that agree with their count, and file names that can always be printed or written."""
from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 photo`, `2 photos`, `0 photos` (`nouns` for an irregular plural)."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def printable(name: str) -> str:
    """A file name as UTF-8 text: the bytes of a name that is not valid UTF-8 (which Python keeps as lone
    surrogates, `bad\\udcffname.jpg`) written as `\\xff` escapes, so a CSV or a terminal never fails on it."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_printable(name: str) -> bool:
    return printable(name) == name
