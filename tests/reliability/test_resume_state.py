"""Resuming a run restores what it learned: the auction's ledger, participants' beliefs.

The auction pays each round the increment of a release computed on the run's totals
(``market.PaymentLedger``, carried by the platform and saved in the checkpoint). A resume
that lost the ledger would restart those totals at zero and pay differently from the
uninterrupted run. With participant economics, beliefs (EWA attractions), their own pay
estimate, who left and the platform's posted rate live in the checkpoint; a resume that forgot
the beliefs would join differently. Each mutation (an agent that forgets on load) must fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import market
from agents import ParticipantGroup, RunResult, Scenario, run
from agents.join_policies import JoinSituation
from agents.participants import ParticipantAgent
from agents.platform import PlatformAgent
from tests.agents.conftest import tiny_scenario
from tests.reliability.conftest import CrashAndResume

CRASH_AFTER = 2


def _auction() -> Scenario:
    return tiny_scenario(
        ParticipantGroup("honest", count=4, data_size=60, cost=1.0),
        rounds=5,
        mechanism="auction",
        exploration=0.2,
    )


def _economics() -> Scenario:
    base = tiny_scenario(
        ParticipantGroup("rich", count=2, data_size=120, cost=25.0),
        ParticipantGroup("poor", count=3, data_size=40, cost=5.0),
        rounds=6,
        mechanism="shapley_fair",
    )
    return (
        base.replace("economics.join_policy", "ewa")
        .replace("economics.reservation", 2.0)
        .replace("economics.exit_after", 2)
        .replace("economics.cost_spread", 0.3)
    )


def _forget_the_ledger(platform: PlatformAgent) -> None:
    platform.ledger = market.PaymentLedger.initial(len(platform.ledger.paid))


def _forget_beliefs(participant: ParticipantAgent) -> None:
    participant.belief = participant.policy.initial_belief(
        JoinSituation(
            participant.expected_cost,
            participant.reservation,
            prior_reward=participant.model.plan.prior_reward,
        )
    )


@dataclass(frozen=True)
class Case:
    """A run, the participant columns a resume must reproduce, and the mutation: the agent
    class whose ``load_state_dict`` then forgets part of what it restored."""

    scenario: Callable[[], Scenario]
    columns: list[str]
    agent: type[PlatformAgent] | type[ParticipantAgent]
    forget: Callable[[Any], None]

    def table(self, result: RunResult) -> np.ndarray:
        return result.participants[self.columns].to_numpy()


CASES = {
    "auction_ledger": Case(_auction, ["reward"], PlatformAgent, _forget_the_ledger),
    "economics": Case(_economics, ["joined", "reward", "cost"], ParticipantAgent, _forget_beliefs),
}


@pytest.mark.parametrize("name", CASES)
def test_a_resumed_run_joins_and_pays_as_the_uninterrupted_run(
    name: str, crash_and_resume: CrashAndResume
) -> None:
    case = CASES[name]
    whole = run(case.scenario())
    last_round = whole.participants["round"] == whole.participants["round"].max()
    assert whole.participants.loc[last_round, "reward"].sum() > 0  # what was restored matters
    np.testing.assert_array_equal(
        case.table(crash_and_resume(case.scenario(), CRASH_AFTER)), case.table(whole)
    )


@pytest.mark.parametrize("name", CASES)
def test_a_resume_that_forgets_pays_or_joins_differently(
    name: str, crash_and_resume: CrashAndResume, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    original = case.agent.load_state_dict

    def forgetful(self: Any, state: dict[str, Any]) -> None:
        original(self, state)
        case.forget(self)

    whole = case.table(run(case.scenario()))
    monkeypatch.setattr(case.agent, "load_state_dict", forgetful)
    assert not np.array_equal(case.table(crash_and_resume(case.scenario(), CRASH_AFTER)), whole)
