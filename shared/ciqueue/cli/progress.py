"""Progress for a person on long work (a reconcile over a large fleet, ``package``'s wheel
download): one status line on stderr, rewritten in place, and erased when the work ends.

The rule: progress is shown only when stderr is a terminal (``isatty``) and the command was not
asked for ``--json``; piped or redirected output, a script's, gets no extra byte. The work itself
reports through a plain callable (``Callable[[str], None]``, a status text) that the library
layers take as an optional argument, so they never know whether anyone is watching.
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

ERASE = "\r\033[K"  # carriage return, then erase to the end of the line (ANSI EL)


class TerminalProgress:
    """A status line on ``stream``; each call replaces it; ``close`` erases it."""

    def __init__(self, stream: TextIO, prefix: str) -> None:
        self.stream = stream
        self.prefix = prefix
        self.shown = False

    def __call__(self, text: str) -> None:
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self.stream.write(ERASE + f"{self.prefix}: {text}"[:width])
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write(ERASE)
            self.stream.flush()
            self.shown = False


def for_person(prefix: str, *, json: bool = False, stream: TextIO | None = None) -> TerminalProgress | None:
    """A progress line on ``stream`` (stderr) when a person watches it; None otherwise (piped,
    redirected, or ``--json``)."""
    stream = sys.stderr if stream is None else stream
    if json:
        return None
    try:
        watched = stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream is nobody's terminal
        watched = False
    return TerminalProgress(stream, prefix) if watched else None
