"""Typed fields from TOML: check a raw value against a dataclass field's annotation."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents.scenario.errors import ScenarioError, is_integer, is_number, key_text, require
from agents.scenario.limits import MAX_FILE_BYTES, check_toml_text
from agents.scenario.text import check_strings, kib
from market.registry import PluginError


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The tables of a TOML file; a missing, unreadable, oversized, empty, broken or
    non-UTF-8 file is a one-line error at ``what`` (``"scenario"``, ``"sweep"``).

    At most :data:`~agents.scenario.limits.MAX_FILE_BYTES` + 1 bytes are ever read.
    """
    file = Path(path)
    if file.is_dir():
        raise ScenarioError(what, f"{path} is a folder, not a file; give a TOML file")
    if not file.is_file():
        raise ScenarioError(what, f"file not found: {path}; give a TOML file")
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ScenarioError(
            what, f"cannot read {path} ({error.strerror}); give a readable TOML file"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(
            what,
            f"{path} is {kib(file.stat().st_size)}, over the limit of {kib(MAX_FILE_BYTES)}; "
            f"give a smaller {what} file",
        )
    raw = parse_toml(data, what, source=str(path))
    if not raw:
        raise ScenarioError(
            what, f"{path} is empty (no keys or tables); give a {what} TOML file (see the examples)"
        )
    return raw


def parse_toml(text: str | bytes, what: str, *, source: str = "") -> dict[str, Any]:
    """Parse TOML text (from ``source``, a file name); errors are one line at ``what``.

    The text's size and bracket nesting are checked before parsing, and every key and
    string after it (:mod:`agents.scenario.limits`).
    """
    subject = f"{source} is " if source else ""
    check_toml_text(text, what, subject)
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
        raw = tomllib.loads(decoded)
    except UnicodeDecodeError:
        raise ScenarioError(what, f"{subject}not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(what, f"{subject}not valid TOML: {error}") from None
    except RecursionError:  # a nesting the pre-check missed (it counts outside strings)
        raise ScenarioError(
            what, f"{subject}nested too deeply; use flat lists and tables"
        ) from None
    check_strings(raw, "" if what == "scenario" else f"{what}.")
    return raw


def field_names(cls: type) -> set[str]:
    """The init fields of a dataclass."""
    return {f.name for f in dataclasses.fields(cls) if f.init}


def _accepts(expected: Any, value: Any) -> tuple[bool, Any]:
    """Whether ``value`` fits the annotation ``expected``, and the value to store."""
    if expected is float:
        return is_number(value), float(value) if is_number(value) else value
    if expected is int:
        return is_integer(value), value
    if expected is bool:
        return isinstance(value, bool), value
    if expected is str:
        return isinstance(value, str), value
    if expected is type(None):
        return value is None, value
    origin = typing.get_origin(expected)
    if origin is tuple:
        (item, *_) = typing.get_args(expected)
        if not isinstance(value, list | tuple):
            return False, value
        checked = [_accepts(item, v) for v in value]
        return all(ok for ok, _ in checked), tuple(v for _, v in checked)
    if isinstance(expected, types.UnionType) or origin is typing.Union:
        for option in typing.get_args(expected):
            ok, stored = _accepts(option, value)
            if ok:
                return True, stored
        return False, value
    return True, value


def _describe(expected: Any) -> str:
    if expected is float:
        return "a number"
    if expected is int:
        return "an integer"
    if expected is bool:
        return "true or false"
    if expected is str:
        return "a string"
    if typing.get_origin(expected) is tuple:
        return f"a list of {_describe(typing.get_args(expected)[0]).removeprefix('a ')}s"
    options = [o for o in typing.get_args(expected) if o is not type(None)]
    return " or ".join(_describe(o) for o in options) or "a value"


def coerce(cls: type, name: str, value: Any, path: str) -> Any:
    """``value`` checked against the declared type of ``cls.name``; ints widen to floats."""
    expected = typing.get_type_hints(cls)[name]
    if dataclasses.is_dataclass(expected) and isinstance(expected, type):  # a nested table
        if isinstance(value, expected):
            return value
        return build(expected, value, path)
    ok, stored = _accepts(expected, value)
    require(ok, path, f"must be {_describe(expected)}, got {value!r}")
    return stored


def build(cls: type, spec: Any, path: str, **extra: Any) -> Any:
    """An instance of the section ``cls`` from a TOML table, unknown keys rejected."""
    require(isinstance(spec, Mapping), path, f"must be a table, got {spec!r}")
    known = field_names(cls) - set(extra)
    for key in spec:
        require(
            key in known, f"{path}.{key_text(key)}", f"unknown key; allowed are {sorted(known)}"
        )
    values = {key: coerce(cls, key, value, f"{path}.{key}") for key, value in spec.items()}
    try:
        return cls(**values, **extra)
    except (ScenarioError, PluginError):  # (a plug-in's error is not this section's)
        raise
    except (TypeError, ValueError) as error:  # a field the section could not take
        raise ScenarioError(path, str(error).splitlines()[0]) from None


def to_table(section: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A section as a TOML table (``None`` fields are left out: TOML has no null)."""
    return {
        f.name: to_table(value) if dataclasses.is_dataclass(value) else value
        for f in dataclasses.fields(section)
        if f.init and f.name not in drop and (value := getattr(section, f.name)) is not None
    }
