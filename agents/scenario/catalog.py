"""Every scenario field, described once: what the explorer, ``fedmarket fields`` and the docs read.

A field's help text, unit, bounds and choices are declared with the field itself
(:func:`~agents.scenario.spec.setting`; the fields inherited from ``fl_core``:
:data:`agents.scenario.training.INHERITED`) and its default is the dataclass default. This
module gathers them by dotted path (``market.round_budget``; a participant field as
``participants.*.cost``) into :data:`FIELDS`, and :func:`undocumented` lists any field that
was added without a description (the test suite requires it to be empty).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents.scenario.core import Scenario
from agents.scenario.errors import ScenarioError
from agents.scenario.groups import ParticipantGroup
from agents.scenario.sections import NESTED, SECTIONS
from agents.scenario.spec import FieldSpec, spec_of
from agents.scenario.training import INHERITED

GROUP_PATH = "participants.*"
"""The prefix under which a participant group's fields are described."""


@dataclass(frozen=True, eq=False)
class FieldDoc:
    """One scenario field: its dotted path, type, default and :class:`FieldSpec`."""

    path: str
    kind: str
    default: Any
    spec: FieldSpec

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def label(self) -> str:
        """A short label for a widget (the field name, spaced, unless the spec gives one)."""
        return self.spec.label or self.name.replace("_", " ")

    @property
    def help(self) -> str:
        return self.spec.help

    @property
    def is_float(self) -> bool:
        """Whether the field holds a number that need not be whole."""
        return self.kind.startswith("number")

    def choices(self) -> tuple[Any, ...] | None:
        return self.spec.allowed()

    def allowed_text(self) -> str:
        """What the field may hold, in a few words (``[0, 1]``, ``one of a, b``)."""
        options = self.choices()
        if options is not None:
            return "one of " + ", ".join(str(o) for o in options)
        interval = self.spec.interval()
        return f"{interval} {self.spec.unit}".strip() if interval else self.spec.unit


def _kind(annotation: Any) -> str:
    names = {int: "integer", float: "number", bool: "true/false", str: "text"}
    if annotation in names:
        return names[annotation]
    if typing.get_origin(annotation) is tuple:
        return f"list of {_kind(typing.get_args(annotation)[0])}"
    options = [a for a in typing.get_args(annotation) if a is not type(None)]
    text = " or ".join(_kind(a) for a in options)
    return f"{text} or omitted" if type(None) in typing.get_args(annotation) else text


def _docs(cls: type, prefix: str, inherited: Mapping[str, FieldSpec]) -> list[FieldDoc]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        path = f"{prefix}.{f.name}" if prefix else f.name
        spec = spec_of(f) or inherited.get(path)
        if spec is None or f.default is dataclasses.MISSING:
            continue  # a section, the participant table, a group's name, or undocumented
        out.append(FieldDoc(path, _kind(hints[f.name]), f.default, spec))
    return out


def _all_fields() -> dict[str, FieldDoc]:
    docs = _docs(Scenario, "", {})
    for name, cls in {**SECTIONS, **NESTED}.items():
        docs += _docs(cls, name, INHERITED)
    docs += _docs(ParticipantGroup, GROUP_PATH, {})
    return {doc.path: doc for doc in docs}


FIELDS: dict[str, FieldDoc] = _all_fields()
"""Every documented scenario field by dotted path (participant fields: ``participants.*.F``)."""


def field_doc(path: str) -> FieldDoc:
    """The description of the field at ``path`` (``participants.GROUP.F`` is any group's ``F``).

    Raises:
        ScenarioError: at ``path`` when no such field is described.
    """
    parts = path.split(".")
    key = f"{GROUP_PATH}.{parts[2]}" if parts[0] == "participants" and len(parts) == 3 else path
    if key not in FIELDS:
        raise ScenarioError(path, "unknown field; `fedmarket fields` lists them all")
    return FIELDS[key]


def help_text(path: str) -> str:
    """The help text of the field at ``path``."""
    return field_doc(path).help


def choices(path: str) -> tuple[Any, ...] | None:
    """The values the field at ``path`` may take, or ``None`` for a number, flag or text."""
    return field_doc(path).choices()


def undocumented(
    top: type = Scenario,
    sections: Mapping[str, type] = SECTIONS,
    group: type = ParticipantGroup,
    inherited: Mapping[str, FieldSpec] = INHERITED,
) -> list[str]:
    """Dotted paths of the fields of ``top``, its ``sections`` and the participant ``group``
    that have no description (or an empty help text), and descriptions that name no field."""
    missing, seen = [], set()
    nested = {path: cls for path, cls in NESTED.items() if path.split(".")[0] in sections}
    tables = [(top, ""), *((cls, name) for name, cls in {**sections, **nested}.items())]
    for cls, prefix in [*tables, (group, GROUP_PATH)]:
        for f in dataclasses.fields(cls):
            path = f"{prefix}.{f.name}" if prefix else f.name
            if path in nested:
                continue  # a table inside a section, described field by field
            if cls is top and (f.name in sections or f.name == "participants"):
                continue  # tables, described field by field
            if cls is group and f.name == "name":
                continue  # the group's key under [participants.NAME]
            seen.add(path)
            spec = spec_of(f) or inherited.get(path)
            if spec is None or not spec.help.strip():
                missing.append(path)
    return missing + [path for path in inherited if path not in seen]


def describe(prefix: str = "") -> list[dict[str, str]]:
    """One row per field whose path starts with ``prefix``: path, type, default, allowed
    values and help (``fedmarket fields``)."""
    return [
        {
            "field": doc.path,
            "type": doc.kind,
            "default": "(omitted)" if doc.default is None else repr(doc.default),
            "allowed": doc.allowed_text(),
            "help": doc.help,
        }
        for doc in FIELDS.values()
        if doc.path.startswith(prefix)
    ]
