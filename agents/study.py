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

The plan (:class:`StudyPlan`, :func:`load_study`) is read and validated by
:mod:`agents.study_plan` and importable from here. ``study(plan)`` runs every (setting,
mechanism, seed) on a sweep backend (:func:`agents.sweep.map_runs`) and returns a
:class:`StudyResult`: a ``runs`` table (one row per run: ``mechanism, setting, seed`` and
every summary metric) and a ``rounds`` table (one row per run x round: test accuracy, budget
paid and participation, overall and by participant type). ``StudyResult.write(out)`` writes
both as CSV and Parquet, the figures (:mod:`agents.study_figures`) and ``report.md``
(:mod:`agents.study_report`). Same seeds, same tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.scenario import Scenario
from agents.study_plan import RUN_KEYS, StudyPlan, check_seeds, load_study, parse_seeds

if TYPE_CHECKING:
    import pandas as pd


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
        return write_report(self.plan, self.runs, self.rounds, folder)


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
    "RUN_KEYS",
    "StudyPlan",
    "StudyResult",
    "check_seeds",
    "load_study",
    "parse_seeds",
    "round_records",
    "run_record",
    "study",
]
