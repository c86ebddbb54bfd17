"""Resuming an auction run restores its payment ledger.

The auction pays each round the increment of a release computed on the run's totals
(``market.PaymentLedger``, carried by the platform and saved in the checkpoint). A resume
that lost the ledger would restart those totals at zero and pay differently from the
uninterrupted run: the mutation (a platform that forgets its ledger on load) must fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import market
from agents import ParticipantGroup, Scenario, run
from agents.platform import PlatformAgent
from tests.agents.conftest import tiny_scenario

ROUNDS, CRASH_AFTER = 5, 2


class Crash(Exception):
    pass


def _scenario() -> Scenario:
    return tiny_scenario(
        ParticipantGroup("honest", count=4, data_size=60, cost=1.0),
        rounds=ROUNDS,
        mechanism="auction",
        exploration=0.2,
    )


def _crash_then_resume(tmp_path: Path) -> np.ndarray:
    scenario, checkpoints = _scenario(), tmp_path / "ckpt"

    def crash(row: dict[str, Any]) -> None:
        if row["round"] == CRASH_AFTER:  # the checkpoint of this round is already written
            raise Crash

    with pytest.raises(Crash):
        run(scenario, checkpoint_dir=checkpoints, on_round=crash)
    resumed = run(scenario, checkpoint_dir=checkpoints, resume=True)
    return resumed.participants["reward"].to_numpy()


def test_a_resumed_auction_pays_as_the_uninterrupted_run(tmp_path: Path) -> None:
    whole = run(_scenario()).participants["reward"].to_numpy()
    assert whole[-4:].sum() > 0  # the last round pays: the ledger matters there
    np.testing.assert_array_equal(_crash_then_resume(tmp_path), whole)


def test_a_resume_that_forgets_the_ledger_pays_differently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = PlatformAgent.load_state_dict

    def forgetful(self: PlatformAgent, state: dict[str, Any]) -> None:
        original(self, state)
        self.ledger = market.PaymentLedger.initial(len(self.ledger.paid))

    whole = run(_scenario()).participants["reward"].to_numpy()
    monkeypatch.setattr(PlatformAgent, "load_state_dict", forgetful)
    assert not np.array_equal(_crash_then_resume(tmp_path), whole)
