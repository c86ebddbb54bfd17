"""Mechanism fairness on real runs: frozen MiniLM embeddings with a federated head.

These are the properties users rely on; each runs the real marketplace (real training,
real scoring, real payments). Extend by adding scenarios and assertions here.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents import MarketModel, ParticipantGroup, Scenario, run
from agents.scenario import DataSection, MarketSection, ModelSection, TrainSection
from fl_core import FederatedTask

pytestmark = pytest.mark.slow

CONTRIBUTION_BASED = ("proportional", "shapley_fair", "reputation")


def scenario(*groups: ParticipantGroup, rounds: int = 4, **market: object) -> Scenario:
    return Scenario(
        name="fairness",
        rounds=rounds,
        model=ModelSection(backbone="minilm", mode="head"),
        data=DataSection(val_size=300, max_length=64, utility_subset=300),
        train=TrainSection(lr=0.01),
        market=MarketSection(
            **{"scoring": "exact", "utility_metric": "neg_loss", "exploration": 0.0, **market}  # type: ignore[arg-type]
        ),
        participants=groups,
    )


@pytest.fixture(scope="module")
def task() -> FederatedTask:
    """One MiniLM head-mode task shared by the runs (same data config in every scenario)."""
    return MarketModel(scenario(ParticipantGroup("honest", count=1, data_size=10))).task


def _run(s: Scenario, task: FederatedTask, twins: tuple[int, int] | None = None):  # type: ignore[no-untyped-def]
    model = MarketModel(s, task=task)
    if twins is not None:  # give the second identity exactly the first one's data
        by_pid = {p.pid: p for p in model.participants}
        first, second = by_pid[twins[0]], by_pid[twins[1]]
        noise = second.labels != task.train_labels[second.shard]
        second.shard = first.shard.copy()
        second.labels = first.labels.copy()
        if noise.any():  # keep the second one's label-noise rate on the shared data
            flip = np.random.default_rng(0).random(len(second.labels)) < noise.mean()
            second.labels[flip] = 1 - second.labels[flip]
    return run(s, model=model)


@pytest.mark.parametrize("mechanism", [*CONTRIBUTION_BASED, "flat"])
def test_free_riders_get_at_most_5_percent_under_contribution_rules(
    task: FederatedTask, mechanism: str
) -> None:
    result = _run(
        scenario(
            ParticipantGroup("honest", count=4, data_size=200),
            ParticipantGroup("free_riders", count=2, data_size=200, strategy="free_rider"),
            mechanism=mechanism,
        ),
        task,
    )
    share = result.summary["fair_free_rider_share"]
    # the platform screens empty updates out before any mechanism pays (market.identities
    # .free_rider_reasons), so even the flat rule, which pays per head, pays them nothing
    assert share <= 0.05


@pytest.mark.xfail(
    strict=True,
    reason="measured after the trust changes (cost cover + surplus, replica groups, free-rider "
    "screen, exact scoring): twins were paid 28.4 and 34.1 (17% apart) on seed 0; cause not "
    "isolated yet (open in the trust issue)",
)
def test_identical_participants_are_paid_within_10_percent(task: FederatedTask) -> None:
    result = _run(
        scenario(
            ParticipantGroup("twin_a", count=1, data_size=200),
            ParticipantGroup("twin_b", count=1, data_size=200),
            ParticipantGroup("others", count=3, data_size=200),
            mechanism="shapley_fair",
        ),
        task,
        twins=(0, 1),
    )
    rewards = result.participants.groupby("participant")["reward"].sum()
    assert abs(rewards[0] - rewards[1]) <= 0.10 * max(rewards[0], rewards[1])


def test_label_noise_participant_is_paid_less_than_its_clean_twin(task: FederatedTask) -> None:
    result = _run(
        scenario(
            ParticipantGroup("clean", count=1, data_size=200),
            ParticipantGroup("noisy", count=1, data_size=200, label_noise=0.4),
            ParticipantGroup("others", count=3, data_size=200),
            mechanism="proportional",
        ),
        task,
        twins=(0, 1),
    )
    rewards = result.participants.groupby("participant")["reward"].sum()
    assert rewards[1] < rewards[0]


def test_reputation_excludes_a_persistent_free_rider_within_3_rounds(task: FederatedTask) -> None:
    result = _run(
        scenario(
            ParticipantGroup("honest", count=4, data_size=200),
            ParticipantGroup("free_rider", count=1, data_size=200, strategy="free_rider"),
            mechanism="proportional",
            reputation_threshold=0.35,
            rounds=5,
        ),
        task,
    )
    parts = result.participants
    rider = parts[parts["strategy"] == "free_rider"].set_index("round")
    excluded_rounds = rider.index[rider["excluded"]]
    assert len(excluded_rounds) > 0 and excluded_rounds.min() <= 3
    honest = parts[(parts["strategy"] == "honest") & (parts["round"] == parts["round"].max())]
    assert not honest["excluded"].any()
