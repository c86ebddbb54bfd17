"""How a ``fedmarket`` command ends on a user error: one line on stderr, exit status 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit with status 2.

    The message may quote user input (a file name, a value): it is printed as one line with
    every control character escaped (no ANSI sequence reaches the terminal) and its middle
    cut when long (:func:`agents.scenario.limits.printable_line`).
    """
    from agents.scenario.limits import printable_line

    typer.echo(f"error: {printable_line(message)}", err=True)
    raise typer.Exit(code=2)


@contextmanager
def user_errors() -> Iterator[None]:
    """A user error raised inside (a bad file, field or value: a ``ValueError``, which a
    ``ScenarioError`` and a ``DataError`` are) ends the command: its first line, exit 2."""
    try:
        yield
    except ValueError as error:
        fail((str(error).splitlines() or [type(error).__name__])[0])
