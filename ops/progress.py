"""Progress bars on stderr (stdout stays clean for ``--json``), silent with --json."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click


class _Null:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False


@contextmanager
def bar(length: int, label: str, *, quiet: bool) -> Iterator[Any]:
    """A click progress bar of ``length`` steps on stderr (nothing when ``quiet``)."""
    stream: Any = _Null() if quiet else sys.stderr
    with click.progressbar(length=max(length, 0), label=label, file=stream, show_pos=True) as b:
        yield b
