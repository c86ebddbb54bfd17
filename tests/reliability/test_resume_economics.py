"""Resuming a run with participant economics restores what participants learned.

Beliefs (EWA attractions), their own pay estimate, who left and the platform's posted rate
live in the checkpoint; a resume that forgot the beliefs would join differently from the
uninterrupted run: that mutation must fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents import ParticipantGroup, Scenario, run
from agents.participants import ParticipantAgent
from tests.agents.conftest import tiny_scenario

ROUNDS, CRASH_AFTER = 6, 2


class Crash(Exception):
    pass


def _scenario() -> Scenario:
    base = tiny_scenario(
        ParticipantGroup("rich", count=2, data_size=120, cost=25.0),
        ParticipantGroup("poor", count=3, data_size=40, cost=5.0),
        rounds=ROUNDS,
        mechanism="shapley_fair",
    )
    return (
        base.replace("economics.join_policy", "ewa")
        .replace("economics.reservation", 2.0)
        .replace("economics.exit_after", 2)
        .replace("economics.cost_spread", 0.3)
    )


def _joined_after_resume(tmp_path: Path) -> np.ndarray:
    scenario, checkpoints = _scenario(), tmp_path / "ckpt"

    def crash(row: dict[str, Any]) -> None:
        if row["round"] == CRASH_AFTER:
            raise Crash

    with pytest.raises(Crash):
        run(scenario, checkpoint_dir=checkpoints, on_round=crash)
    resumed = run(scenario, checkpoint_dir=checkpoints, resume=True)
    return resumed.participants[["joined", "reward", "cost"]].to_numpy()


def test_a_resumed_run_joins_and_pays_as_the_uninterrupted_run(tmp_path: Path) -> None:
    whole = run(_scenario()).participants[["joined", "reward", "cost"]].to_numpy()
    np.testing.assert_array_equal(_joined_after_resume(tmp_path), whole)


def test_a_resume_that_forgets_beliefs_joins_differently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ParticipantAgent.load_state_dict

    def forgetful(self: ParticipantAgent, state: dict[str, Any]) -> None:
        original(self, state)
        self.belief = self.policy.initial_belief(
            prior_reward=self.model.plan.prior_reward,
            expected_cost=self.expected_cost,
            reservation=self.reservation,
        )

    whole = run(_scenario()).participants[["joined", "reward", "cost"]].to_numpy()
    monkeypatch.setattr(ParticipantAgent, "load_state_dict", forgetful)
    assert not np.array_equal(_joined_after_resume(tmp_path), whole)
