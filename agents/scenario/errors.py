"""The one error a scenario raises, and the small checks every section uses."""

from __future__ import annotations

import math
from typing import Any


class ScenarioError(ValueError):
    """An invalid scenario field.

    ``str(error)`` is one line, ``"PATH: problem; fix"``; ``error.path`` is the dotted field
    (``"market.scoring"``, ``"participants.free_riders.cost"``) so that the CLI and the
    explorer can point at the field without parsing the message.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def require(ok: bool, path: str, problem: str) -> None:
    """Raise :class:`ScenarioError` at ``path`` unless ``ok``."""
    if not ok:
        raise ScenarioError(path, problem)


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """An int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def key_text(key: Any) -> str:
    """A key as it may appear in a one-line message: bare keys as they are, others quoted."""
    text = str(key)
    bare = bool(text) and all(c.isascii() and (c.isalnum() or c in "_-") for c in text)
    return text if bare else repr(text)


def as_scenario_error(section: str, error: ValueError) -> ScenarioError:
    """An ``fl_core`` config error (``"section.field: problem"``) as a :class:`ScenarioError`.

    ``fl_core`` owns the bounds of the fields it defines; its messages already start with
    the dotted field, which becomes ``.path`` here (once, at this boundary).
    """
    if isinstance(error, ScenarioError):
        return error
    message = str(error).splitlines()[0] if str(error) else section
    path, sep, problem = message.partition(": ")
    if not sep or not path.startswith(section):
        return ScenarioError(section, message)
    return ScenarioError(path, problem)
