"""Studies: mechanisms x heterogeneity settings x seeds, with a report a reviewer accepts.

A study file (TOML) names a base scenario, the mechanisms to compare, named settings (each
a set of dotted scenario paths and their values; an empty one runs the base as is) and the
seeds::

    name = "incentives"
    base = "../../agents/examples/baseline.toml"   # relative to this file, or a [base] table
    seeds = [0, 1, 2]                              # or seeds = 10: range(10)
    backend = "auto"                               # as for sweeps
    mechanisms = ["flat", "proportional", "banzhaf_cover"]
    [settings.size_skew]
    "participants.rich.data_size" = 600

``study(plan)`` runs every (setting, mechanism, seed) on a sweep backend
(:func:`agents.sweep.map_runs`) and returns a :class:`StudyResult`: a ``runs`` table (one
row per run: ``mechanism, setting, seed`` and every summary metric) and a ``rounds`` table
(one row per run x round: test accuracy, budget paid and participation, overall and by
participant type). ``StudyResult.write(out)`` writes both as CSV and Parquet, the figures
and ``report.md`` (:mod:`agents.study_report`). Same seeds, same tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.scenario import Scenario, ScenarioError, limits, list_examples, load_example
from agents.sweep import BACKENDS

if TYPE_CHECKING:
    import pandas as pd

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


def run_record(scenario: Scenario) -> dict[str, Any]:
    """Run one scenario; its summary and per-round records (executed in a worker)."""
    from agents.run import run

    result = run(scenario)
    return {"summary": result.summary, "rounds": round_records(result.rounds, result.participants)}


def round_records(rounds: pd.DataFrame, participants: pd.DataFrame) -> list[dict[str, Any]]:
    """Per round: test accuracy, budget paid, identities joined, ``participation`` (the share
    of identities that joined; NaN in round 0, before anyone could) and, where the participants
    table has the types, ``participation_<attribute>_<level>``."""
    from agents.economics import participation_by_type

    table = rounds[["round", "test_accuracy", "budget_paid", "joined"]].copy()
    overall = participants.groupby("round")["joined"].mean().astype(float)
    table["participation"] = table["round"].map(overall)
    by_type = participation_by_type(participants)
    if not by_type.empty:
        wide = by_type.pivot_table(
            index="round", columns=["attribute", "level"], values="participation"
        )
        for attribute, level in wide.columns:
            column = f"participation_{attribute}_{level}"
            table[column] = table["round"].map(wide[(attribute, level)])
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_dict("records")]


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it is (records travel between processes)."""
    return value.item() if hasattr(value, "item") else value


@dataclass
class StudyResult:
    """The tables of a study.

    Attributes:
        plan: what was run.
        runs: one row per run: ``mechanism``, ``setting``, ``seed`` and every key of
            ``run(scenario).summary`` (a metric a run lacks, e.g. ``reward_share_sybil``
            where there is no Sybil, is NaN).
        rounds: one row per run x round: ``mechanism``, ``setting``, ``seed``, ``round``,
            ``test_accuracy``, ``budget_paid``, ``joined``, ``participation`` and
            ``participation_<attribute>_<level>`` (the share of a participant type's
            identities that joined; attributes ``data_size``, ``quality``, ``compute``).
    """

    plan: StudyPlan
    runs: pd.DataFrame
    rounds: pd.DataFrame

    def write(self, out: str | Path) -> Path:
        """Write ``runs``/``rounds`` (CSV and Parquet), ``base.toml``, the figures (PNG and
        SVG, under ``figures/``) and ``report.md`` under ``out``, each file atomically;
        returns the report's path."""
        from agents.results_io import atomic_write, write_tables
        from agents.study_report import text_writer, write_report

        folder = Path(out)
        write_tables(folder, {"runs": self.runs, "rounds": self.rounds})
        atomic_write(folder / "base.toml", text_writer(self.plan.base.to_toml()))
        return write_report(self, folder)


def study(
    plan: StudyPlan,
    *,
    out: str | Path | None = None,
    progress: bool = False,
    on_run: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> StudyResult:
    """Run every (setting, mechanism, seed) of ``plan`` on its backend.

    Args:
        plan: a validated study (:func:`load_study`, or built in Python).
        out: when given, write the tables, figures and report there
            (:meth:`StudyResult.write`).
        progress: show a tqdm bar over the runs.
        on_run: called with (``{"mechanism", "setting", "seed"}``, summary) as each run's
            result arrives, in table order.

    The ``process`` backend spawns worker processes: guard a script that uses it with
    ``if __name__ == "__main__":``.
    """
    import pandas as pd

    from agents.sweep import _Progress, choose_backend, map_runs

    runs = plan.runs()
    backend = choose_backend(plan.backend, len(runs), plan.workers)
    bar = None
    if progress or on_run is not None:
        callback = None
        if on_run is not None:
            callback = lambda params, record: on_run(params, record["summary"])  # noqa: E731
        names = [p for p, _ in runs]
        bar = _Progress(len(runs), progress, callback, names, desc=f"study {plan.name}")
    try:
        records = map_runs(
            [scenario for _, scenario in runs],
            backend,
            worker=run_record,
            workers=plan.workers,
            address=plan.address,
            bar=bar,
        )
    finally:
        if bar is not None:
            bar.close()
    summary_rows = []
    round_rows = []
    for (params, _), record in zip(runs, records, strict=True):
        summary_rows.append({**params, **record["summary"]})
        round_rows += [{**params, **row} for row in record["rounds"]]
    result = StudyResult(
        plan=plan,
        runs=pd.DataFrame(summary_rows),
        rounds=pd.DataFrame(round_rows),
    )
    if out is not None:
        result.write(out)
    return result


__all__ = [
    "StudyPlan",
    "StudyResult",
    "check_seeds",
    "load_study",
    "parse_seeds",
    "round_records",
    "run_record",
    "study",
]
