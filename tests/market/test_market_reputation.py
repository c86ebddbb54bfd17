"""The one reputation policy: evidence, forgetting, exclusion, penalties, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

import market
from market.reputation import ReputationPolicy, ReputationState


def test_policy_tracks_history_and_excludes_after_min_rounds() -> None:
    # Prepare: player 2 never contributes, player 3 is absent after round 0
    policy = ReputationPolicy(forgetting=0.9, threshold=0.3, min_rounds=2)
    state = policy.initial(4)
    contributions = np.array([0.5, 0.4, 0.0, 0.5])
    excluded_at = None
    # Execute
    for t in range(6):
        present = np.array([True, True, True, t == 0])
        state = policy.observe(state, contributions, present)
        if excluded_at is None and state.excluded_mask[2]:
            excluded_at = t
    # Assert
    scores = state.scores
    assert scores[0] >= scores[1] > 0.5 > scores[2]
    assert excluded_at == 1  # judged after two scored rounds, not before
    assert not state.excluded_mask[[0, 1, 3]].any()
    assert 0.5 < scores[3] < scores[0]  # evidence decays towards the prior while absent
    assert list(state.scored_rounds) == [6, 6, 6, 1]


def test_threshold_zero_never_excludes_and_quiet_rounds_carry_no_evidence() -> None:
    policy = ReputationPolicy()
    state = policy.observe(policy.initial(2), np.array([-1.0, 0.0]), np.ones(2, dtype=bool))
    assert state.scored_rounds is not None and not state.scored_rounds.any()  # nobody helped
    for _ in range(5):
        state = policy.observe(state, np.array([1.0, -1.0]), np.ones(2, dtype=bool))
    assert not state.excluded_mask.any() and state.scores[1] < 0.2


def test_penalise_is_full_negative_evidence() -> None:
    policy = ReputationPolicy(threshold=0.4, min_rounds=1)
    state = policy.penalise(policy.initial(3), np.array([False, True, False]))
    assert state.beta[1] == 1.0 and state.alpha[1] == 0.0
    assert state.excluded_mask[1] and not state.excluded_mask[[0, 2]].any()


def test_reputation_mechanism_reads_the_policy_state() -> None:
    # Prepare: same contributions, different histories
    policy = ReputationPolicy()
    state = policy.initial(2)
    for _ in range(3):
        state = policy.observe(state, np.array([1.0, 0.1]), np.ones(2, dtype=bool))
    # Execute
    allocation = market.make_mechanism("reputation").allocate(
        np.array([1.0, 1.0]), budget=1.0, state=state
    )
    # Assert: the better history earns more of the surplus; no state of its own
    assert allocation.payments[0] > allocation.payments[1]


def test_checkpoint_round_trip_and_bad_input() -> None:
    policy = ReputationPolicy(threshold=0.3)
    state = policy.observe(policy.initial(3), np.array([1.0, 0.0, 0.5]), np.ones(3, dtype=bool))
    again = ReputationState.from_arrays(state.to_arrays())
    for key, value in state.to_arrays().items():
        np.testing.assert_array_equal(again.to_arrays()[key], value)
    with pytest.raises(ValueError, match="forgetting"):
        ReputationPolicy(forgetting=0.0)
    with pytest.raises(ValueError, match="threshold"):
        ReputationPolicy(threshold=1.0)
    with pytest.raises(ValueError, match="min_rounds"):
        ReputationPolicy(min_rounds=0)
    with pytest.raises(ValueError, match="contributions must have shape"):
        policy.observe(state, np.ones(2), np.ones(2, dtype=bool))
    with pytest.raises(ValueError, match="lack"):
        ReputationState.from_arrays({"alpha": np.zeros(2)})


def test_replica_groups() -> None:
    rng = np.random.default_rng(0)
    honest = rng.normal(size=(3, 50))
    replica = honest[0] * 1.0001 + 1e-6 * rng.normal(size=50)
    labels = market.replica_groups(np.vstack([honest, replica, np.zeros(50)]))
    assert list(labels) == [0, 1, 2, 0, 4]
    with pytest.raises(ValueError, match="threshold"):
        market.replica_groups(honest, threshold=0.0)
