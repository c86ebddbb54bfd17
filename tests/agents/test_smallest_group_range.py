"""The leak audit as a range in the rounds table, the summary and the CLI (issue 27, M2).

Per round: ``smallest_group`` (a computable group of that size), ``smallest_group_at_least``
(no computable group is smaller) and ``smallest_group_exact``; over the run: the minimum of
each, exact only when the run's minimum is certified.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from agents import ParticipantGroup, run
from agents.cli_output import print_privacy
from agents.run import _smallest_group, smallest_group_range

from .conftest import tiny_scenario


def rounds_of(*ranges: tuple[int, int]) -> pd.DataFrame:
    """A rounds table with round 0 (nobody included) and one scored round per (witness, bound)."""
    rows = [{"included": 0, "smallest_group": 0, "smallest_group_at_least": 0}]
    rows += [{"included": 6, "smallest_group": w, "smallest_group_at_least": b} for w, b in ranges]
    return pd.DataFrame(rows)


def test_the_run_is_exact_only_when_its_minimum_is_certified() -> None:
    # round 1 is exact at 3, round 2 only bounded below by 2: some group of 2 may exist
    summary = _smallest_group(rounds_of((3, 3), (5, 2)))
    assert summary == {
        "server_smallest_group": 3.0,
        "server_smallest_group_at_least": 2.0,
        "server_smallest_group_exact": 0.0,
    }
    assert smallest_group_range(summary) == "between 2 and 3"
    certified = _smallest_group(rounds_of((1, 1), (4, 2)))
    assert certified["server_smallest_group_exact"] == 1.0
    assert smallest_group_range(certified) == "1 (exact)"
    nothing = _smallest_group(rounds_of())
    assert all(math.isnan(v) for v in nothing.values())
    assert smallest_group_range(nothing) == "no round included anyone"

    # broken variant: taking the exact flag of the round with the smallest witness
    def broken(rounds: pd.DataFrame) -> float:
        scored = rounds[rounds["included"] > 0]
        best = scored.loc[scored["smallest_group"].idxmin()]
        return float(best["smallest_group"] == best["smallest_group_at_least"])

    assert broken(rounds_of((3, 3), (5, 2))) != summary["server_smallest_group_exact"]


@pytest.mark.parametrize(
    ("access", "expected"), [("secure_coalitions", "1 (exact)"), ("trusted_evaluator", "4 (exact)")]
)
def test_a_secure_run_reports_the_range_in_table_summary_and_cli(
    access: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exact scoring under secure_coalitions releases every coalition (each client alone); a
    trusted evaluator releases only the total of the 4 clients."""
    scenario = (
        tiny_scenario(ParticipantGroup("honest", count=4, data_size=50), rounds=1)
        .replace("privacy.secure_aggregation", True)
        .replace("privacy.access", access)
    )
    result = run(scenario)
    row = result.rounds.iloc[1]
    assert row["smallest_group_at_least"] <= row["smallest_group"]
    assert bool(row["smallest_group_exact"]) == (
        row["smallest_group_at_least"] == row["smallest_group"]
    )
    assert not result.rounds.iloc[0]["smallest_group_exact"]  # round 0 scores nothing
    assert smallest_group_range(result.summary) == expected
    print_privacy(result)
    assert f"smallest group the server could compute: {expected};" in capsys.readouterr().out
