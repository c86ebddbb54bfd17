"""The default mechanism's cost cover on evidence over rounds (issue 12, noise-driven split gain).

``banzhaf_cover`` covers a participant whose value this round is positive, or whose signed
track record (``ReputationState.record``) plus this round's signed evidence is positive. The
properties, each played against the broken variant ``covers_on_record = False`` (the rule
before: one round's value decides) or against a record that forgives everything:

* an honest participant whose value dips below 0 within its record is still covered;
* a null player (record 0) and a poisoner harming at least as much as the average help are
  never covered, whatever their history;
* without a state (first round, callers without reputation) the rule is the plain one.
"""

from __future__ import annotations

import numpy as np
import pytest

import market
from market.mechanisms.banzhaf_cover import BanzhafCover, covered_on_record
from market.mechanisms.base import Round
from market.reputation import ReputationPolicy, ReputationState, signed_evidence

ALL = np.ones(4, dtype=bool)
COSTS = np.full(4, 5.0)


def _history(rounds: int, values: np.ndarray) -> ReputationState:
    policy = ReputationPolicy()
    state = policy.initial(values.size)
    for _ in range(rounds):
        state = policy.observe(state, values, np.ones(values.size, dtype=bool))
    return state


def test_record_is_the_discounted_mean_of_signed_evidence() -> None:
    # Prepare: player 0 helps (above average), 1 helps half as much, 2 is null, 3 harms
    values = np.array([2.0, 0.5, 0.0, -3.0])
    # Execute
    state = _history(3, values)
    # Assert: s = clip(phi / mean(phi > 0), -1, 1) = (1, 0.4, 0, -1), constant over rounds
    np.testing.assert_allclose(state.record, [1.0, 0.4, 0.0, -1.0])
    np.testing.assert_allclose(signed_evidence(values, ALL), [1.0, 0.4, 0.0, -1.0])
    assert np.all(state.harm <= state.beta)  # type: ignore[operator]
    np.testing.assert_array_equal(ReputationState.initial(2).record, [0.0, 0.0])
    # a rejected update is full harm
    penalised = ReputationPolicy().penalise(ReputationState.initial(2), np.array([True, False]))
    np.testing.assert_array_equal(penalised.record, [-1.0, 0.0])


def test_a_dip_within_the_record_is_covered_and_the_plain_rule_is_not() -> None:
    # Prepare: four honest helpers for three rounds; then player 1 dips slightly below 0,
    # player 2 sends a null update (value exactly 0, no cost: it did not train), player 3
    # harms as much as the average help
    state = _history(3, np.array([1.0, 1.0, 1.0, 1.0]))
    values = np.array([1.0, -0.2, 0.0, -1.0])
    costs = np.array([5.0, 5.0, 0.0, 5.0])
    marginals = np.array([1.0, -0.1, 0.0, -1.0])
    # Execute
    paid = market.make_mechanism("banzhaf_cover").allocate(
        values, budget=100.0, costs=costs, state=state, marginals=marginals
    )
    # Assert: the dip is covered at cost (no surplus: its marginal is negative); the null
    # update gets its metered cost, 0; the harm is not forgiven after an honest history
    assert paid.payments[1] == pytest.approx(5.0)
    assert paid.payments[2] == 0.0 and paid.payments[3] == 0.0
    assert paid.payments[0] == pytest.approx(95.0)


def test_broken_variant_plain_cover_drops_the_dip(monkeypatch: pytest.MonkeyPatch) -> None:
    state = _history(3, np.array([1.0, 1.0, 1.0, 1.0]))
    values = np.array([1.0, -0.2, 1.0, 1.0])
    monkeypatch.setattr(BanzhafCover, "covers_on_record", False)
    paid = market.make_mechanism("banzhaf_cover").allocate(
        values, budget=100.0, costs=COSTS, state=state
    )
    assert paid.payments[1] == 0.0  # the rule before: one noisy round decides


def test_null_players_and_poisoners_are_never_forgiven() -> None:
    # whatever the history of the others, a null player's record is 0 and a harm of at least
    # the average help (s = -1) cannot be offset by a record <= 1
    rng = np.random.default_rng(0)
    for _ in range(50):
        history = rng.normal(1.0, 1.0, size=4)
        history[2] = 0.0  # null player
        state = _history(int(rng.integers(1, 8)), history)
        values = rng.normal(1.0, 0.5, size=4)
        values[2] = 0.0
        values[3] = -abs(values[3]) - np.mean(np.clip(values, 0, None)[values > 0]) * 4
        covered = covered_on_record(_round(values, state))
        assert not covered[2] and not covered[3]


def test_broken_variant_forgiving_everything_covers_the_poisoner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a record read without this round's evidence (the dip's size ignored) forgives a poisoner
    # with an honest history: the property above catches it
    state = _history(3, np.array([1.0, 1.0, 1.0, 1.0]))
    values = np.array([1.0, 1.0, 1.0, -5.0])
    assert not covered_on_record(_round(values, state))[3]
    monkeypatch.setattr(
        "market.mechanisms.banzhaf_cover.signed_evidence", lambda c, p: np.zeros(c.size)
    )
    assert covered_on_record(_round(values, state))[3]


def test_without_state_or_history_the_value_decides() -> None:
    values = np.array([1.0, -0.2, 0.0, 1.0])
    np.testing.assert_array_equal(covered_on_record(_round(values, None)), values > 0)
    fresh = ReputationState.initial(4)
    np.testing.assert_array_equal(covered_on_record(_round(values, fresh)), values > 0)


def test_checkpoint_without_harm_loads_and_bad_harm_is_refused() -> None:
    arrays = _history(2, np.array([1.0, -1.0])).to_arrays()
    assert "harm" in arrays
    old = {k: v for k, v in arrays.items() if k != "harm"}
    np.testing.assert_array_equal(ReputationState.from_arrays(old).harm, [0.0, 0.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="harm"):
        ReputationState(alpha=np.zeros(2), beta=np.zeros(2), harm=np.ones(2))


def _round(values: np.ndarray, state: ReputationState | None) -> Round:
    n = values.size
    return Round(
        contributions=values,
        budget=100.0,
        costs=np.full(n, 5.0),
        participants=np.ones(n, dtype=bool),
        state=state,
        groups=np.arange(n, dtype=np.int64),
        selection=None,
    )
