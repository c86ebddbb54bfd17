"""Mechanism fairness on real runs: frozen MiniLM embeddings with a federated head.

These are the properties users rely on; each runs the real marketplace (real training,
real scoring, real payments). Extend by adding scenarios and assertions here.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from agents import MarketModel, ParticipantGroup, Scenario, run
from agents.scenario import DataSection, MarketSection, ModelSection, TrainSection
from fl_core import FederatedTask
from market.mechanisms.base import Round, cover_then_share

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


def _run(  # type: ignore[no-untyped-def]
    s: Scenario,
    task: FederatedTask,
    twins: tuple[int, int] | None = None,
    *,
    same_stream: bool = False,
):
    model = MarketModel(s, task=task)
    if twins is not None:  # give the second identity exactly the first one's data
        by_pid = {p.pid: p for p in model.participants}
        first, second = by_pid[twins[0]], by_pid[twins[1]]
        if same_stream:  # and the first one's training stream (bit-identical updates)
            second.stream = np.random.default_rng()
            second.stream.bit_generator.state = copy.deepcopy(first.stream.bit_generator.state)
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


def _pay_a_replica_group_to_its_first_identity(
    round_: Round, weights: np.ndarray, surplus_weights: np.ndarray | None = None, **kw: object
) -> np.ndarray:
    """Broken variant: what a replica group earns goes to its lowest identity (order effect)."""
    out = cover_then_share(round_, weights, surplus_weights, **kw)  # type: ignore[arg-type]
    for label in np.unique(round_.groups[round_.participants]):
        members = np.flatnonzero(round_.participants & (round_.groups == label))
        if members.size > 1:
            total = float(out[members].sum())
            out[members], out[members[0]] = 0.0, total
    return out


def test_bit_identical_twins_are_paid_identically(
    task: FederatedTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Symmetry end to end: two identities with the same data AND the same training stream.

    Why the same stream: twins that only share data train with their own random streams
    (batch order), so their updates genuinely differ, and one run pays them apart by noise,
    not by an asymmetric rule. Measured on seed 0 (shapley_fair, exact Shapley, 4 rounds):
    own streams, rewards 28.4 vs 34.1 (17% apart), the gap all from round 4, where one
    twin's value was -0.0017 (not covered, 0) and the other's +0.0003 (covered, 7.2); with
    one stream both
    updates, values and payments are equal in every round. Symmetry of the *expected* pay of
    twins on their own streams would need many seeds of this noise (a round's value ~0.001
    against dips of the same size); the equal-pay claim is for bit-identical twins, and it
    checks the whole path (exact Shapley symmetry, replica grouping: the pair is covered
    once, its cost split equally, and no order effect in the estimator or mechanism).
    Broken variant (asserted to fail): a replica group's pay goes to its first identity.
    """

    def twins_rewards() -> np.ndarray:
        s = scenario(
            ParticipantGroup("twin_a", count=1, data_size=200),
            ParticipantGroup("twin_b", count=1, data_size=200),
            ParticipantGroup("others", count=3, data_size=200),
            mechanism="shapley_fair",
        )
        result = _run(s, task, twins=(0, 1), same_stream=True)
        rewards = result.participants.groupby("participant")["reward"].sum()
        return np.array([rewards[0], rewards[1]])

    rewards = twins_rewards()
    print(f"\ntwins (same data, same stream): {rewards.round(3)}")
    assert rewards[0] > 0 and rewards[0] == pytest.approx(rewards[1], rel=1e-9)
    monkeypatch.setattr(
        "market.mechanisms.shapley_fair.cover_then_share",
        _pay_a_replica_group_to_its_first_identity,
    )
    broken = twins_rewards()
    assert broken[0] != pytest.approx(broken[1], rel=0.1)


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
