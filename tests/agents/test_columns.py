"""The data dictionary (``agents.columns``) describes exactly what a run writes.

A tiny head-mode run (random 2-layer BERT, a few seconds) with honest, free-riding and Sybil
groups produces the ``rounds`` and ``participants`` tables and the summary; every column and
key must be described, every description must be produced, and ``docs/columns.md`` must be the
text the dictionary generates. Each check also runs on a broken variant to show it catches it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents import ParticipantGroup, columns
from agents.run import RunResult, run
from tests.agents.conftest import tiny_scenario

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "columns.md"


@pytest.fixture(scope="module")
def result() -> RunResult:
    scenario = tiny_scenario(
        ParticipantGroup("honest", count=2, data_size=40),
        ParticipantGroup("riders", count=1, data_size=40, strategy="free_rider"),
        ParticipantGroup("split", count=1, data_size=40, strategy="sybil", sybil_identities=2),
        rounds=2,
    )
    return run(scenario)


def _names(result: RunResult) -> dict[str, list[str]]:
    tables = result.tables()
    return {
        "rounds": list(tables["rounds"].columns),
        "participants": list(tables["participants"].columns),
        "summary": list(result.summary),
    }


def test_every_column_and_summary_key_of_a_run_is_described(result: RunResult) -> None:
    for table, names in _names(result).items():
        assert columns.undescribed(table, names) == [], table


def test_every_description_is_produced_by_a_run(result: RunResult) -> None:
    for table, names in _names(result).items():
        assert columns.unproduced(table, names) == [], table


def test_the_checks_catch_an_undescribed_and_an_unproduced_column(result: RunResult) -> None:
    # broken variants: a new column nobody described, a described column the run lost
    names = _names(result)
    assert columns.undescribed("rounds", [*names["rounds"], "mystery_seconds"]) == [
        "mystery_seconds"
    ]
    lost = [n for n in names["summary"] if not n.startswith("reward_share_")]
    assert columns.unproduced("summary", lost) == ["reward_share_<strategy>"]
    assert columns.lookup("reward_share_sybil", "summary") is not None  # a family's member


def test_every_entry_has_a_label_a_unit_and_a_definition() -> None:
    for table, entries in columns.TABLES.items():
        for name, column in entries.items():
            assert column.label and column.unit and column.definition.endswith("."), (table, name)


def test_axis_labels_carry_the_unit() -> None:
    assert columns.axis_label("budget_paid", "rounds") == "budget paid (budget units)"
    assert columns.axis_label("aborted", "rounds") == "aborted"  # a flag has no unit to show
    assert columns.axis_label("not_a_column") == "not a column"


def test_docs_columns_md_is_the_generated_text() -> None:
    assert DOCS.read_text(encoding="utf-8") == columns.markdown(), (
        "docs/columns.md is stale: run `python -m agents.columns > docs/columns.md`"
    )
    printed = subprocess.run(
        [sys.executable, "-m", "agents.columns"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    assert printed.stdout == columns.markdown()


def test_the_docs_check_catches_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "columns.md"
    stale.write_text(columns.markdown().replace("| `round` |", "| `rnd` |", 1), encoding="utf-8")
    assert stale.read_text(encoding="utf-8") != columns.markdown()
