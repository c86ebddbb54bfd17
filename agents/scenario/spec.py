"""What one scenario field means and what it may hold, declared once with the field.

A field of a scenario section is declared with :func:`setting`, which keeps its default (the
dataclass default), its help text, unit, bounds and choices (a :class:`FieldSpec` in the
field's metadata) in one place. The section's ``__post_init__`` checks its own fields against
those specs (:func:`check_fields`); the explorer, ``fedmarket fields`` and the docs read the
same specs through :mod:`agents.scenario.catalog`. The fields a section inherits from
``fl_core`` (which validates them itself) are described in :mod:`agents.scenario.fl_fields`.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.scenario.errors import is_integer, is_number, require

SPEC_KEY = "spec"
"""The key of a field's :class:`FieldSpec` in its dataclass metadata."""


@dataclass(frozen=True, eq=False)
class FieldSpec:
    """The description of one scenario field.

    Attributes:
        help: one or two sentences a researcher can act on (widget help, ``fedmarket fields``).
        label: a short name for a widget or an axis (default: the field name, spaced).
        unit: the unit of a number (``"budget units"``, ``"s"``), or ``""``.
        low, high: the bounds of a number (``None``: unbounded on that side).
        low_open, high_open: whether the bound itself is excluded.
        cap: a technical upper limit (sums must stay finite), checked and reported apart
            from the bounds.
        choices: the allowed values, or a function that returns them (a registry).
        choice_help: one line per choice.
        note: what a special value means, added to an error message (``"0: never"``).
    """

    help: str
    label: str = ""
    unit: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    cap: float | None = None
    choices: tuple[Any, ...] | Callable[[], Sequence[str]] | None = None
    choice_help: Mapping[str, str] = dataclasses.field(default_factory=dict)
    note: str = ""

    def allowed(self) -> tuple[Any, ...] | None:
        """The allowed values (a registry's names in registry order), or ``None``."""
        if self.choices is None or isinstance(self.choices, tuple):
            return self.choices
        return tuple(self.choices())

    def within(self, value: float) -> bool:
        """Whether the number ``value`` lies within the bounds."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def interval(self) -> str:
        """The bounds as text: ``[0, 1]``, ``(0, 1e+12]``, ``>= 10``, ``> 0`` or ``""``."""
        low, high = self.low, self.high if self.cap is None else self.cap
        if low is not None and high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{left}{_number(low)}, {_number(high)}{right}"
        if low is not None:
            return f"{'>' if self.low_open else '>='} {_number(low)}"
        if high is not None:
            return f"{'<' if self.high_open else '<='} {_number(high)}"
        return ""


def _number(value: float) -> str:
    if isinstance(value, int) and value >= 2**32 and value & (value - 1) == 0:
        return f"2^{value.bit_length() - 1}"
    return str(value) if isinstance(value, int) else f"{value:g}"


_INTERVAL = re.compile(r"([\[(])\s*([^,]+?)\s*,\s*([^\])]+?)\s*([\])])")


def _bound(text: str) -> float:
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else float(text)


def interval(text: str) -> dict[str, Any]:
    """The bounds of an interval in the usual notation as :class:`FieldSpec` keywords:
    ``"(0, 1]"`` gives ``low=0, low_open=True, high=1``; ``inf`` leaves a side unbounded."""
    match = _INTERVAL.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an interval such as '[0, 1)' or '(0, inf)'")
    left, low, high, right = match.groups()
    out: dict[str, Any] = {}
    if low != "-inf":
        out.update(low=_bound(low), low_open=left == "(")
    if high != "inf":
        out.update(high=_bound(high), high_open=right == ")")
    return out


def spec(help: str, within: str = "", **keywords: Any) -> FieldSpec:
    """A :class:`FieldSpec` whose bounds are given as an interval (``within="[0, 1)"``)."""
    return FieldSpec(help, **(interval(within) if within else {}), **keywords)


def setting(default: Any, help: str, within: str = "", **keywords: Any) -> Any:
    """A dataclass field with ``default`` and its :class:`FieldSpec` (:func:`spec`)."""
    described = spec(help, within, **keywords)
    return dataclasses.field(default=default, metadata={SPEC_KEY: described})


def spec_of(field: dataclasses.Field[Any]) -> FieldSpec | None:
    """The spec a field was declared with (:func:`setting`), or ``None``."""
    found = field.metadata.get(SPEC_KEY)
    return found if isinstance(found, FieldSpec) else None


_CHECKED: dict[type, tuple[tuple[str, type, FieldSpec], ...]] = {}


def _checked(cls: type) -> tuple[tuple[str, type, FieldSpec], ...]:
    """(name, declared type, spec) of each field of ``cls`` declared with :func:`setting`
    (worked out once per class)."""
    if cls not in _CHECKED:
        hints = typing.get_type_hints(cls)
        _CHECKED[cls] = tuple(
            (f.name, hints[f.name], spec)
            for f in dataclasses.fields(cls)
            if (spec := spec_of(f)) is not None
        )
    return _CHECKED[cls]


def problem(spec: FieldSpec, kind: type, value: Any) -> str | None:
    """What is wrong with ``value`` for a field of type ``kind`` described by ``spec``."""
    allowed = spec.allowed()
    if allowed is not None:
        if isinstance(value, str | int) and value in allowed:
            return None
        shown = sorted(allowed) if callable(spec.choices) else allowed
        return f"{value!r} is not one of {shown}"
    if kind is int or kind is float:
        ok = is_integer(value) if kind is int else is_number(value)
        if ok and spec.within(value):
            if spec.cap is None or value <= spec.cap:
                return None
            return f"must be at most {_number(spec.cap)}, got {value!r}"
        interval = dataclasses.replace(spec, cap=None).interval()
        what = "an integer" if kind is int else ("a finite number" if not interval else "")
        text = " ".join(part for part in (what, "in" if "," in interval else "", interval) if part)
        note = f" ({spec.note})" if spec.note else ""
        return f"must be {text}{note}, got {value!r}"
    return None


def check_fields(obj: Any, at: str) -> None:
    """Check every field of ``obj`` declared with :func:`setting` against its spec; a bad
    value raises :class:`~agents.scenario.ScenarioError` at ``AT.FIELD`` (``at`` empty: the
    bare field name)."""
    for name, kind, spec in _checked(type(obj)):
        found = problem(spec, kind, getattr(obj, name))
        require(found is None, f"{at}.{name}" if at else name, str(found))
