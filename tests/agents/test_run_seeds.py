"""``run_seeds`` and ``seed_summary``: k seeds -> mean and a 95% Student-t interval per metric."""

from __future__ import annotations

import math

import pytest

from agents import ParticipantGroup, ScenarioError
from agents.run import run_seeds, seed_summary
from tests.agents.conftest import tiny_scenario


def test_seed_summary_is_the_student_t_interval() -> None:
    # Prepare: three seeds' values 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.302653
    summaries = [{"m": 1.0, "nan_once": 1.0}, {"m": 2.0, "nan_once": float("nan")}, {"m": 3.0}]

    # Execute
    table = seed_summary(summaries).set_index("metric")

    # Assert: the t quantile, not the normal 1.96 (mutation: a z interval gives 2 +- 1.1316)
    half = 4.302653 / math.sqrt(3)
    assert table.loc["m", "mean"] == pytest.approx(2.0)
    assert table.loc["m", "ci_low"] == pytest.approx(2.0 - half, rel=1e-6)
    assert table.loc["m", "ci_high"] == pytest.approx(2.0 + half, rel=1e-6)
    assert table.loc["m", "seeds"] == 3
    assert "nan_once" not in table.index  # not in every run's summary


def test_one_seed_has_no_interval() -> None:
    table = seed_summary([{"m": 5.0}]).set_index("metric")
    assert table.loc["m", "mean"] == 5.0 and table.loc["m", "seeds"] == 1
    assert math.isnan(table.loc["m", "ci_low"]) and math.isnan(table.loc["m", "ci_high"])


def test_run_seeds_runs_each_seed_and_summarises_them() -> None:
    # Prepare
    scenario = tiny_scenario(
        ParticipantGroup("honest", count=2, data_size=60),
        ParticipantGroup("rider", count=1, data_size=60, strategy="free_rider"),
        rounds=1,
    )
    seen: list[int] = []

    # Execute
    results, table = run_seeds(scenario, [0, 1], on_run=lambda seed, _: seen.append(seed))

    # Assert: each run used its seed; the table's mean is the runs' mean
    assert seen == [0, 1]
    assert [r.scenario.seed for r in results] == [0, 1]
    row = table.set_index("metric").loc["final_test_accuracy"]
    values = [r.summary["final_test_accuracy"] for r in results]
    assert row["mean"] == pytest.approx(sum(values) / 2)
    assert row["seeds"] == 2
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_run_seeds_rejects_bad_seeds() -> None:
    with pytest.raises(ScenarioError, match="seeds"):
        run_seeds(tiny_scenario(), [])
    with pytest.raises(ScenarioError, match="distinct"):
        run_seeds(tiny_scenario(), [1, 1])
