"""A study's plan: mechanisms x heterogeneity settings x seeds, read from TOML and validated.

The file format is described in :mod:`agents.study`, which runs a plan; a :class:`StudyPlan`
builds every (setting, mechanism, seed) scenario at construction, so a bad path or value fails
with one line naming it before any run starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.scenario import Scenario, ScenarioError, limits, list_examples, load_example
from agents.sweep import BACKENDS

KEYS = ("name", "base", "seeds", "backend", "workers", "address", "mechanisms", "settings")
"""The top-level keys of a study file."""
AXES = ("market.mechanism", "seed")
"""Paths a setting may not set: the study's own axes."""
RUN_KEYS = ("mechanism", "setting", "seed")
"""The columns that name a run, first in both tables."""
STUDIES = Path(__file__).resolve().parents[1] / "examples" / "studies"
"""Where shipped studies live in a source checkout (``fedmarket study NAME``)."""


@dataclass(frozen=True)
class StudyPlan:
    """A validated study: every (setting, mechanism, seed) scenario is built at construction,
    so a bad path or value fails before any run starts.

    Attributes:
        name: the study's name (the report's title).
        base: the scenario every run starts from.
        mechanisms: values of ``market.mechanism`` to compare (``market.MECHANISMS``).
        settings: setting name -> {dotted scenario path: value}; ``{}`` is the base as is.
        seeds: distinct non-negative seeds; every setting x mechanism runs with each.
        backend: a sweep backend (:data:`agents.sweep.BACKENDS`).
        workers: worker processes for the ``process`` backend (default: CPU count).
        address: the Ray cluster for the ``ray`` backend (``None``: a local one).
    """

    name: str
    base: Scenario
    mechanisms: tuple[str, ...]
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: {"base": {}})
    seeds: tuple[int, ...] = (0,)
    backend: str = "auto"
    workers: int | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        import market

        if not isinstance(self.name, str) or not self.name.strip():
            raise ScenarioError("study.name", f"give a non-empty string, got {self.name!r}")
        if not isinstance(self.base, Scenario):
            raise ScenarioError("study.base", "give a scenario file name or a [base] table")
        mechanisms = self.mechanisms
        if isinstance(mechanisms, str) or not isinstance(mechanisms, Sequence) or not mechanisms:
            raise ScenarioError("study.mechanisms", "give a non-empty list of mechanism names")
        for mechanism in mechanisms:
            if not isinstance(mechanism, str) or mechanism not in market.MECHANISMS:
                raise ScenarioError(
                    "study.mechanisms",
                    f"{mechanism!r} is not one of {sorted(market.MECHANISMS)}",
                )
        if len(set(mechanisms)) != len(mechanisms):
            raise ScenarioError("study.mechanisms", f"{list(mechanisms)} repeats a mechanism")
        object.__setattr__(self, "mechanisms", tuple(mechanisms))
        object.__setattr__(self, "seeds", check_seeds(self.seeds, "study.seeds"))
        if self.backend not in BACKENDS:
            raise ScenarioError("study.backend", f"{self.backend!r} is not one of {BACKENDS}")
        workers = self.workers
        if workers is not None and (
            not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
        ):
            raise ScenarioError("study.workers", f"give a positive integer, got {workers!r}")
        if self.address is not None and not isinstance(self.address, str):
            raise ScenarioError(
                "study.address",
                f"give a Ray address such as '127.0.0.1:6379', got {self.address!r}",
            )
        object.__setattr__(self, "settings", check_settings(self.settings))
        for setting in self.settings:
            for mechanism in self.mechanisms:
                self.scenario(setting, mechanism, self.seeds[0])  # cross-section rules

    def scenario(self, setting: str, mechanism: str, seed: int) -> Scenario:
        """The scenario of one run: the base, the setting's values, the mechanism, the seed."""
        scenario = self.base
        for path, value in self.settings[setting].items():
            try:
                scenario = scenario.replace(path, value)
            except ScenarioError as error:
                problem = error.problem if error.path == path else str(error)
                raise ScenarioError(f"study.settings.{setting}.{path}", problem) from None
        try:
            scenario = scenario.replace("market.mechanism", mechanism)
        except ScenarioError as error:
            raise ScenarioError(
                "study.mechanisms", f"{mechanism!r} in setting {setting!r}: {error}"
            ) from None
        return scenario.replace("seed", int(seed))

    def runs(self) -> list[tuple[dict[str, Any], Scenario]]:
        """Every run's ``{"mechanism", "setting", "seed"}`` and scenario, in table order."""
        return [
            ({"mechanism": mechanism, "setting": setting, "seed": seed}, scenario)
            for setting in self.settings
            for mechanism in self.mechanisms
            for seed in self.seeds
            for scenario in [self.scenario(setting, mechanism, seed)]
        ]

    def replace(self, **changes: Any) -> StudyPlan:
        """A copy with some fields changed (e.g. ``seeds``, ``backend``), validated again."""
        return dataclasses.replace(self, **changes)


def check_seeds(seeds: Any, path: str = "seeds") -> tuple[int, ...]:
    """Seeds as given in a study: a count ``N`` (``range(N)``) or distinct non-negative ints."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ScenarioError(path, f"give a positive count or a list of seeds, got {seeds}")
        if seeds > limits.MAX_RUNS:  # checked before the seeds are built
            raise ScenarioError(
                path, f"{seeds:,} seeds exceed the limit of {limits.MAX_RUNS:,} runs; use fewer"
            )
        return tuple(range(seeds))
    if (
        isinstance(seeds, str)
        or not isinstance(seeds, Sequence)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise ScenarioError(
            path, f"give a count or a non-empty list of non-negative integers, got {seeds!r}"
        )
    if len(set(seeds)) != len(seeds):
        raise ScenarioError(path, f"{list(seeds)} repeats a seed; runs are paired by seed")
    return tuple(int(s) for s in seeds)


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seeds`` on the command line: ``"5"`` (range(5)) or ``"0,1,7"``."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and len(p) <= 18 for p in parts):
        raise ScenarioError(
            "seeds", f"give a count (5) or a comma-separated list (0,1,7), got {text!r}"
        )
    if len(parts) == 1 and "," not in text:
        return check_seeds(int(parts[0]), "seeds")
    return check_seeds([int(p) for p in parts], "seeds")


def check_settings(settings: Any) -> dict[str, dict[str, Any]]:
    """Named settings as plain dicts of dotted path -> value (nested tables are flattened,
    so ``participants.rich.data_size = 600`` without quotes works too)."""
    if not isinstance(settings, Mapping) or not settings:
        raise ScenarioError(
            "study.settings", "give at least one [settings.NAME] table (an empty one is the base)"
        )
    out: dict[str, dict[str, Any]] = {}
    for name, values in settings.items():
        if not isinstance(name, str) or not name.strip():
            raise ScenarioError("study.settings", f"a setting name must be text, got {name!r}")
        if not isinstance(values, Mapping):
            raise ScenarioError(
                f"study.settings.{name}", 'give a table of "dotted.path" = value entries'
            )
        flat = _flatten(values)
        for path in flat:
            if path in AXES:
                raise ScenarioError(
                    f"study.settings.{name}.{path}",
                    "is an axis of the study; list mechanisms under study.mechanisms and "
                    "seeds under study.seeds",
                )
        out[name] = flat
    return out


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def load_study(path: str | Path) -> StudyPlan:
    """Read and validate a study TOML (or a shipped study's name); one-line
    :class:`ScenarioError` naming the field on any problem."""
    from agents.scenario.fields import read_toml

    file = Path(path)
    if not file.is_file() and "/" not in str(path) and not str(path).endswith(".toml"):
        file = STUDIES / f"{path}.toml"  # a shipped study, by name
        if not file.is_file():
            raise ScenarioError("study", f"file not found: {path}; give a study TOML file")
    raw = read_toml(file, "study")
    for key in raw:
        if key not in KEYS:
            raise ScenarioError(f"study.{key}", f"unknown key; allowed are {sorted(KEYS)}")
    for key in ("mechanisms",):
        if key not in raw:
            raise ScenarioError(f"study.{key}", "missing; give a list of mechanism names")
    return StudyPlan(
        name=raw.get("name", file.stem),
        base=_load_base(raw.get("base"), file),
        mechanisms=raw["mechanisms"],
        settings=raw.get("settings", {"base": {}}),
        seeds=raw.get("seeds", (0,)),
        backend=raw.get("backend", "auto"),
        workers=raw.get("workers"),
        address=raw.get("address"),
    )


def _load_base(spec: Any, file: Path) -> Scenario:
    if spec is None:
        raise ScenarioError("study.base", "missing; give a scenario file name or a [base] table")
    if isinstance(spec, dict):
        return Scenario.from_dict(spec)
    if not isinstance(spec, str):
        raise ScenarioError("study.base", "give a scenario file name or a [base] table")
    scenario_file = file.parent / spec
    if not scenario_file.is_file() and spec in list_examples():
        return load_example(spec)  # a shipped example scenario, by name
    if not scenario_file.is_file():
        raise ScenarioError("study.base", f"file not found: {scenario_file}")
    return Scenario.from_toml(scenario_file)


__all__ = ["AXES", "KEYS", "RUN_KEYS", "StudyPlan", "check_seeds", "load_study", "parse_seeds"]
