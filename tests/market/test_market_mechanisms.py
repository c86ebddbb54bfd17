"""Reward mechanisms, as a fairness suite parametrised over ``market.MECHANISMS``.

To check a new mechanism, register it in ``market.MECHANISMS``: every test below then runs on
it (and ``test_market_properties.py`` checks the guarantees it claims).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import market
from market.mechanisms import Auction, ReputationState, proportional_share_auction

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
    contributions = np.asarray(round_["contributions"])
    costs = np.asarray(round_["costs"])
    selection = mechanism.select(
        participants, budget=budget, bids=costs, data_sizes=np.ones(participants.size)
    )
    allocation = mechanism.allocate(
        contributions,
        budget=budget,
        costs=costs,
        participants=selection.selected,
        selection=selection,
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
        pay = market.make_mechanism(name).run_round(contributions, budget=budget, costs=costs)
        assert pay.payments[0] == pytest.approx(pay.payments[2], abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_null_and_harmful_participants_get_nothing(name: str) -> None:
    mechanism = market.make_mechanism(name)
    allocation = mechanism.run_round(
        np.array([0.4, 0.0, 0.2, -0.1]), budget=1.0, costs=np.full(4, 0.01)
    )
    if "free_rider" in mechanism.guarantees:
        assert allocation.payments[1] == 0.0 and allocation.payments[3] == 0.0
    else:  # flat pays everyone the same
        np.testing.assert_allclose(allocation.payments, 0.25)


@pytest.mark.parametrize("name", NAMES)
def test_more_contribution_never_pays_less(name: str) -> None:
    costs = np.full(4, 0.01)
    low = market.make_mechanism(name).run_round(
        np.array([0.1, 0.2, 0.3, 0.4]), budget=1.0, costs=costs
    )
    assert np.all(np.diff(low.payments) >= -1e-12)


def test_reference_values() -> None:
    flat = market.make_mechanism("flat").allocate(np.array([5.0, 0.0, -1.0, 2.0]), budget=1.0)
    np.testing.assert_allclose(flat.payments, [0.25] * 4)
    prop = market.make_mechanism("proportional").allocate(
        np.array([3.0, 0.0, -1.0, 1.0]), budget=2.0
    )
    np.testing.assert_allclose(prop.payments, [1.5, 0.0, 0.0, 0.5])
    # cover 0.2 + 0.3 (0.4 charged by a harmful participant is not covered), surplus 1.5
    fair = market.make_mechanism("shapley_fair").allocate(
        np.array([3.0, 0.0, -1.0, 1.0]), budget=2.0, costs=np.array([0.2, 0.1, 0.4, 0.3])
    )
    np.testing.assert_allclose(fair.payments, [0.2 + 1.125, 0.0, 0.0, 0.3 + 0.375])


def test_cover_scales_down_when_the_budget_is_short() -> None:
    fair = market.make_mechanism("shapley_fair").allocate(
        np.array([1.0, 1.0, 2.0]), budget=1.0, costs=np.array([1.0, 1.0, 2.0])
    )
    np.testing.assert_allclose(fair.payments, [0.25, 0.25, 0.5])


def test_replicas_are_covered_once() -> None:
    # Prepare: identities 1 and 2 sent the same update (one group)
    contributions = np.array([0.3, 0.1, 0.1])
    costs = np.full(3, 0.2)
    mechanism = market.make_mechanism("banzhaf_cover")
    # Execute
    apart = mechanism.allocate(contributions, budget=1.0, costs=costs)
    grouped = mechanism.allocate(contributions, budget=1.0, costs=costs, groups=np.array([0, 1, 1]))
    # Assert: the group gets one cover (0.2 split), the rest goes to the surplus
    assert grouped.payments[1] == pytest.approx(grouped.payments[2])
    assert grouped.payments[1:].sum() < apart.payments[1:].sum()
    assert grouped.total == pytest.approx(1.0)


def test_nobody_contributed_nothing_paid() -> None:
    for name in ("proportional", "reputation", "auction", "shapley_fair", "banzhaf_cover"):
        allocation = market.make_mechanism(name).run_round(
            np.zeros(3), budget=1.0, costs=np.zeros(3)
        )
        assert allocation.total == 0.0


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unknown mechanism"):
        market.make_mechanism("vcg")
    with pytest.raises(ValueError, match="bad options for mechanism 'shapley_fair'"):
        market.make_mechanism("shapley_fair", floor_share=0.2)
    with pytest.raises(ValueError, match="selection="):
        Auction().allocate(np.ones(3), budget=1.0)
    with pytest.raises(ValueError, match="bids=<costs> and data_sizes"):
        Auction().select(np.ones(3, dtype=bool), budget=1.0)
    with pytest.raises(ValueError, match="budget"):
        market.make_mechanism("flat").allocate(np.ones(3), budget=-1.0)
    with pytest.raises(ValueError, match="participants"):
        market.make_mechanism("flat").allocate(
            np.ones(3),
            budget=1.0,
            participants=np.ones(2),  # type: ignore[arg-type]  # deliberately wrong dtype
        )
    with pytest.raises(ValueError, match="groups"):
        market.make_mechanism("flat").allocate(np.ones(3), budget=1.0, groups=np.zeros(2, int))


def test_selection_refuses_excluded_identities() -> None:
    state = ReputationState(
        alpha=np.zeros(3), beta=np.zeros(3), excluded=np.array([False, True, False])
    )
    candidates = np.array([True, True, False])
    for name in NAMES:
        selection = market.make_mechanism(name).select(
            candidates, budget=1.0, bids=np.zeros(3), data_sizes=np.ones(3), state=state
        )
        assert not selection.selected[1] and selection.excluded[1] and not selection.selected[2]
    allocation = market.make_mechanism("proportional").allocate(np.ones(3), budget=1.0, state=state)
    assert allocation.payments[1] == 0.0


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
    selection = Auction().select(
        np.ones(values.size, dtype=bool), budget=budget, bids=bids, data_sizes=values
    )
    return float(selection.escrow[i] - cost) if selection.selected[i] else 0.0


@settings(max_examples=150, deadline=None)
@given(auctions(), st.lists(st.floats(0.0, 4.0), min_size=1, max_size=6))
def test_auction_truthful_and_individually_rational(
    instance: tuple[np.ndarray, np.ndarray, float, int], lies: list[float]
) -> None:
    # Prepare
    values, costs, budget, i = instance
    truthful = Auction().select(
        np.ones(values.size, dtype=bool), budget=budget, bids=costs, data_sizes=values
    )
    # Assert: individually rational for every winner
    assert np.all(truthful.escrow[truthful.selected] >= costs[truthful.selected] - 1e-9)
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
    selection = Auction().select(
        np.ones(2, dtype=bool), budget=1.0, bids=np.full(2, 0.1), data_sizes=np.ones(2), state=state
    )
    assert selection.escrow[0] > selection.escrow[1]


def test_auction_free_rider_bidding_zero_is_paid_nothing() -> None:
    # Prepare: identity 0 bids 0 and declares data but delivers nothing
    bids, sizes = np.array([0.0, 0.2, 0.2, 0.2]), np.full(4, 100.0)
    auction = Auction()
    selection = auction.select(np.ones(4, dtype=bool), budget=1.0, bids=bids, data_sizes=sizes)
    # Execute
    allocation = auction.allocate(
        np.array([0.0, 0.1, 0.1, 0.1]),
        budget=1.0,
        participants=selection.selected,
        selection=selection,
    )
    # Assert: it won the auction but its escrow is not released; deliverers are IR
    assert selection.selected[0] and allocation.payments[0] == 0.0
    won = selection.selected[1:]
    assert np.all(allocation.payments[1:][won] >= bids[1:][won])


def test_auction_breaks_ties_instead_of_dropping_a_block() -> None:
    # four tied bidders, room for three: the old rule dropped all four, spending nothing
    values, bids = np.ones(4), np.full(4, 0.3)
    winners, payments = proportional_share_auction(values, bids, 1.0, np.array([3, 0, 2, 1]))
    assert winners.sum() == 3 and not winners[0]  # the lowest priority is left out
    assert payments.sum() == pytest.approx(0.9)
    by_rng = Auction().select(
        np.ones(4, dtype=bool),
        budget=1.0,
        bids=bids,
        data_sizes=values,
        rng=np.random.default_rng(3),
    )
    assert by_rng.selected.sum() == 3
