"""Limits on the strings of scenario input and on how much it may ask to expand.

Threat model: see :mod:`agents.scenario.limits` (which also bounds a file's size and bracket
nesting before it is parsed, and re-exports these names). Every key and string of parsed TOML
is bounded in length and may hold no control character (C0, DEL and C1, ESC included, are
rejected, never passed on: :func:`check_text`, :func:`check_strings`); a scenario has at most
:data:`MAX_GROUPS` participant groups and a sweep at most :data:`MAX_RUNS` runs
(:func:`check_runs`). Error messages quote input through :func:`shown` and
:func:`printable_line`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from agents.scenario.errors import ScenarioError

MAX_NAME_CHARS = 200
"""Longest scenario name and participant group name."""
MAX_TEXT_CHARS = 4096
"""Longest string anywhere else (file paths, column names, labels, registry names)."""
MAX_GROUPS = 100
"""Most ``[participants.NAME]`` groups (``bench/scale.py`` uses 10 for 100,000 identities)."""
MAX_RUNS = 10_000
"""Most runs (grid points x seeds) one sweep may expand to; each is a validated scenario."""

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Unicode categories never passed on: controls (C0, DEL and C1, ESC included), and the
invisible format characters that reorder or hide text on a terminal (bidi overrides and
isolates, zero-width characters), lone surrogates, line and paragraph separators."""


def first_unsafe(text: str) -> int | None:
    """The index of the first character of :data:`UNSAFE_CATEGORIES` in ``text``, if any."""
    if text.isascii():  # the usual case: only C0 and DEL can be unsafe
        found = _ASCII_CONTROL.search(text)
        return None if found is None else found.start()
    for index, char in enumerate(text):
        if unicodedata.category(char) in UNSAFE_CATEGORIES:
            return index
    return None


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def kib(size: int) -> str:
    """A byte count in KiB, for a one-line message."""
    return f"{-(-size // 1024):,} KiB"


def shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for a one-line message: control characters escaped, long text cut."""
    cut = text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 4 :]}"
    return repr(cut)


def printable_line(text: str, limit: int = 2000) -> str:
    """``text`` as one terminal-safe line: newlines become spaces, every other control
    character (ESC included) its ``\\xNN`` escape, and the middle of a long text is cut."""
    flat = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    if first_unsafe(flat) is not None:
        flat = "".join(
            ascii(c)[1:-1] if unicodedata.category(c) in UNSAFE_CATEGORIES else c for c in flat
        )
    safe = flat
    if len(safe) <= limit:
        return safe
    return f"{safe[: limit * 2 // 3]} ... {safe[-limit // 4 :]}"


def check_runs(grid: Mapping[str, Any], seeds: Any, path: str) -> None:
    """Reject a grid x seeds product over :data:`MAX_RUNS` before it is expanded."""
    runs = len(seeds) if isinstance(seeds, list | tuple) else 1
    for values in grid.values() if isinstance(grid, Mapping) else ():
        runs *= len(values) if isinstance(values, list | tuple) and values else 1
        if runs > MAX_RUNS:
            break
    if runs > MAX_RUNS:
        raise ScenarioError(
            path,
            f"the grid x seeds gives more than {MAX_RUNS:,} runs; give fewer values or seeds "
            "(or split the sweep)",
        )


def check_text(value: str, path: str, max_chars: int = MAX_TEXT_CHARS) -> None:
    """Reject a string at ``path`` that is too long or holds a control character."""
    if len(value) > max_chars:
        raise ScenarioError(
            path, f"{len(value):,} characters exceed the limit of {max_chars:,}; shorten it"
        )
    found = first_unsafe(value)
    if found is not None:
        raise ScenarioError(
            path,
            f"holds a control character ({ascii(value[found])} at {found}); "
            "use printable text only",
        )


def check_strings(raw: Mapping[str, Any], prefix: str = "") -> None:
    """Every key and string value of parsed TOML within :data:`MAX_TEXT_CHARS`, printable.

    ``prefix`` starts each dotted path (``"sweep."``; empty for a scenario). The walk is
    iterative; its depth is bounded by ``limits.MAX_NESTING`` anyway.
    """
    stack: list[tuple[str, Any]] = [(prefix.rstrip("."), raw)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            check_text(value, path or "scenario")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                check_text(str(key), f"{path}.{shown(str(key))}" if path else shown(str(key)))
                stack.append((f"{path}.{key}" if path else str(key), item))
        elif isinstance(value, list | tuple):  # paths are built only where needed
            for i, item in enumerate(value):
                if isinstance(item, str):
                    if len(item) > MAX_TEXT_CHARS or first_unsafe(item) is not None:
                        check_text(item, f"{path}[{i}]")
                elif isinstance(item, Mapping | list | tuple):
                    stack.append((f"{path}[{i}]", item))
