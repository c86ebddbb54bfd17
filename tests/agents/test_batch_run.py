"""``agents.batch_run``: Mesa's batch runner, every round reported (mesa 3.3 drops the last)."""

from __future__ import annotations

import mesa
import pytest

from agents import MarketModel, run
from agents.batch import batch_run, collected_steps

from .conftest import tiny_scenario


def test_every_round_the_last_included_is_reported() -> None:
    scenario = tiny_scenario(rounds=3)
    rows = batch_run(
        MarketModel,
        {"scenario": [scenario]},
        data_collection_period=1,
        display_progress=False,
    )
    steps = sorted({row["Step"] for row in rows})
    assert steps == [0, 1, 2, 3]
    final = [row for row in rows if row["Step"] == 3]
    reference = run(scenario)
    assert final[0]["test_accuracy"] == pytest.approx(reference.summary["final_test_accuracy"])
    # one row per participant identity, with its own variables, at every step
    assert len(final) == scenario.n_identities
    assert {row["AgentID"] for row in final} == {1, 2, 3}
    last_round = reference.participants[reference.participants["round"] == 3]
    assert sorted(row["reward"] for row in final) == pytest.approx(sorted(last_round["reward"]))


def test_mesa_own_batch_run_drops_the_last_round() -> None:
    """Why ``agents.batch_run`` exists: this test fails the day Mesa reports the last round,
    and the docs can then point back to ``mesa.batch_run``."""
    rows = mesa.batch_run(
        MarketModel,
        parameters={"scenario": [tiny_scenario(rounds=3)]},
        data_collection_period=1,
        display_progress=False,
    )
    assert max(row["Step"] for row in rows) == 2


def test_collection_period_always_keeps_the_last_step() -> None:
    assert collected_steps(4, 1) == [0, 1, 2, 3]
    assert collected_steps(6, 2) == [0, 2, 4, 5]
    assert collected_steps(4, -1) == [3]
