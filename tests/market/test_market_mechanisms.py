"""Reward mechanisms, as a fairness suite parametrised over ``market.MECHANISMS``.

To check a new mechanism, register it in ``market.MECHANISMS``: every test below then runs on
it. A mechanism with ``contribution_based = True`` must pay a null participant at most its
``floor``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import market
from market.mechanisms import Auction, Reputation, ReputationState, proportional_share_auction

NAMES = sorted(market.MECHANISMS)
SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def rounds(draw: st.DrawFn) -> dict[str, object]:
    """A random round: contributions (some negative), costs, participants, budget."""
    n = draw(st.integers(1, 9))
    floats = st.floats(-1.0, 5.0, allow_nan=False)
    contributions = draw(hnp.arrays(np.float64, n, elements=floats))
    costs = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 2.0)))
    participants = draw(hnp.arrays(np.bool_, n))
    budget = draw(st.floats(0.0, 20.0))
    return {
        "contributions": contributions,
        "costs": costs,
        "participants": participants,
        "budget": budget,
    }


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(round_=rounds())
def test_never_over_budget_and_non_negative(name: str, round_: dict[str, object]) -> None:
    # Prepare
    mechanism = market.make_mechanism(name)
    budget = float(round_["budget"])  # type: ignore[arg-type]  # drawn as float
    participants = np.asarray(round_["participants"])
    # Execute
    allocation = mechanism.allocate(
        np.asarray(round_["contributions"]),
        budget=budget,
        costs=np.asarray(round_["costs"]),
        participants=participants,
    )
    # Assert
    assert allocation.payments.sum() <= budget * (1 + 1e-9) + 1e-12
    assert np.all(allocation.payments >= 0)
    assert np.all(allocation.payments[~participants] == 0)
    assert allocation.mechanism == name


@pytest.mark.parametrize("name", NAMES)
def test_symmetric_participants_paid_equally(name: str) -> None:
    contributions = np.array([0.3, 0.1, 0.3, 0.05, 0.2])
    costs = np.array([0.02, 0.01, 0.02, 0.01, 0.03])
    for budget in (0.05, 0.2, 1.0):
        pay = market.make_mechanism(name).allocate(contributions, budget=budget, costs=costs)
        assert pay.payments[0] == pytest.approx(pay.payments[2], abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_null_participant_gets_at_most_the_floor(name: str) -> None:
    mechanism = market.make_mechanism(name)
    contributions = np.array([0.4, 0.0, 0.2, 0.1])
    allocation = mechanism.allocate(contributions, budget=1.0, costs=np.full(4, 0.01))
    if mechanism.contribution_based:
        assert allocation.payments[1] <= mechanism.floor(1.0, 4) + 1e-12
    else:
        assert allocation.payments[1] == pytest.approx(mechanism.floor(1.0, 4))


@pytest.mark.parametrize("name", NAMES)
def test_more_contribution_never_pays_less(name: str) -> None:
    costs = np.full(4, 0.01)
    low = market.make_mechanism(name).allocate(
        np.array([0.1, 0.2, 0.3, 0.4]), budget=1.0, costs=costs
    )
    assert np.all(np.diff(low.payments) >= -1e-12)


def test_flat_and_proportional_reference_values() -> None:
    flat = market.make_mechanism("flat").allocate(np.array([5.0, 0.0, -1.0, 2.0]), budget=1.0)
    np.testing.assert_allclose(flat.payments, [0.25] * 4)
    prop = market.make_mechanism("proportional").allocate(
        np.array([3.0, 0.0, -1.0, 1.0]), budget=2.0
    )
    np.testing.assert_allclose(prop.payments, [1.5, 0.0, 0.0, 0.5])
    fair = market.make_mechanism("shapley_fair", floor_share=0.4).allocate(
        np.array([3.0, 0.0, -1.0, 1.0]), budget=2.0
    )
    np.testing.assert_allclose(fair.payments, [0.2 + 0.9, 0.2, 0.2, 0.2 + 0.3])


def test_nobody_contributed_nothing_paid() -> None:
    for name in ("proportional", "reputation", "auction"):
        allocation = market.make_mechanism(name).allocate(
            np.zeros(3), budget=1.0, costs=np.zeros(3)
        )
        assert allocation.total == 0.0


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unknown mechanism"):
        market.make_mechanism("vcg")
    with pytest.raises(ValueError, match="needs costs"):
        Auction().allocate(np.ones(3), budget=1.0)
    with pytest.raises(ValueError, match="budget"):
        market.make_mechanism("flat").allocate(np.ones(3), budget=-1.0)
    with pytest.raises(ValueError, match="participants"):
        market.make_mechanism("flat").allocate(
            np.ones(3),
            budget=1.0,
            participants=np.ones(2),  # type: ignore[arg-type]  # deliberately wrong dtype
        )
    with pytest.raises(ValueError, match="floor_share"):
        market.make_mechanism("shapley_fair", floor_share=1.5)


def test_reputation_tracks_history_and_excludes() -> None:
    # Prepare: player 2 never contributes, player 3 is absent after round 0
    mechanism = Reputation(forgetting=0.9, threshold=0.3)
    state = ReputationState.initial(4)
    contributions = np.array([0.5, 0.4, 0.0, 0.5])
    # Execute
    excluded_at = None
    for t in range(6):
        present = np.array([True, True, True, t == 0])
        allocation = mechanism.allocate(
            contributions, budget=1.0, participants=present, state=state
        )
        assert allocation.state is not None
        state = allocation.state
        if excluded_at is None and allocation.excluded is not None and allocation.excluded[2]:
            excluded_at = t
    # Assert
    scores = state.scores
    assert scores[0] > scores[1] > 0.5 > scores[2]
    assert excluded_at is not None
    assert allocation.payments[2] == 0.0
    assert 0.5 < scores[3] < scores[0]  # evidence decays towards the prior while absent


@st.composite
def auctions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Random values, costs, budget and a bidder index."""
    n = draw(st.integers(1, 8))
    values = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 3.0)))
    costs = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 2.0)))
    budget = draw(st.floats(0.0, 6.0))
    return values, costs, budget, draw(st.integers(0, n - 1))


def utility_of(values: np.ndarray, bids: np.ndarray, cost: float, i: int, budget: float) -> float:
    """True utility of bidder ``i`` (payment minus true cost if it wins)."""
    allocation = Auction().allocate(values, budget=budget, costs=bids)
    return float(allocation.payments[i] - cost) if allocation.selected[i] else 0.0


@settings(max_examples=150, deadline=None)
@given(auctions(), st.lists(st.floats(0.0, 4.0), min_size=1, max_size=6))
def test_auction_truthful_and_individually_rational(
    instance: tuple[np.ndarray, np.ndarray, float, int], lies: list[float]
) -> None:
    # Prepare
    values, costs, budget, i = instance
    truthful = Auction().allocate(values, budget=budget, costs=costs)
    # Assert: individually rational for every winner
    assert np.all(truthful.payments[truthful.selected] >= costs[truthful.selected] - 1e-9)
    # Assert: no misreport of i's cost raises i's true utility
    honest = utility_of(values, costs, costs[i], i, budget)
    for lie in lies + [costs[i] * 0.5, costs[i] * 1.5 + 0.01]:
        bids = costs.copy()
        bids[i] = lie
        assert utility_of(values, bids, costs[i], i, budget) <= honest + 1e-9


def test_auction_payment_is_the_critical_bid() -> None:
    values = np.array([1.0, 2.0, 1.5, 0.5])
    costs = np.array([0.3, 0.4, 0.9, 0.2])
    winners, payments = proportional_share_auction(values, costs, budget=2.0)
    assert winners.any() and not winners.all()
    for i in np.flatnonzero(winners):
        above, below = costs.copy(), costs.copy()
        above[i] = payments[i] * 1.001
        below[i] = payments[i] * 0.999
        assert not proportional_share_auction(values, above, 2.0)[0][i]
        assert proportional_share_auction(values, below, 2.0)[0][i]


def test_auction_uses_reputation() -> None:
    state = ReputationState(alpha=np.array([9.0, 0.0]), beta=np.array([0.0, 9.0]))
    allocation = Auction().allocate(
        np.array([1.0, 1.0]), budget=1.0, costs=np.array([0.1, 0.1]), state=state
    )
    assert allocation.payments[0] > allocation.payments[1]
