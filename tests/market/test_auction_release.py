"""The auction's escrow released against the run's cumulative delivered value.

Each test plays several rounds through :class:`market.PaymentLedger`. The split test replays
Shapley values recorded on real MiniLM runs (seeds 3 and 4 of
``tests/reliability/test_adversaries_real.py``) and has two mutations, each of which must pay
the split owner more than 5% over the whole one on the same values: the release round by
round (:class:`PerRoundRelease`, no ledger) and the release in proportion to value up to the
declared share (``full_share=1``, the rule before).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import market
from market.games import fl_game
from market.mechanisms import Auction, PaymentLedger, Round
from market.mechanisms.auction import release
from market.types import FloatArray

BUDGET = 100.0


@dataclass(frozen=True)
class PerRoundRelease(Auction):
    """Mutation: each round released against that round's value alone (no ledger)."""

    name: ClassVar[str] = "auction"

    def _pay(self, round_: Round) -> FloatArray:
        return super()._pay(replace(round_, ledger=None))


def play(
    auction: Auction,
    values: list[FloatArray],
    sizes: FloatArray,
    present: list[np.ndarray] | None = None,
) -> tuple[FloatArray, PaymentLedger]:
    """Every identity bids 0 and delivers ``values[t]`` in round ``t`` (if ``present[t]``)."""
    n = sizes.size
    ledger = PaymentLedger.initial(n)
    paid = []
    for t, round_values in enumerate(values):
        here = np.ones(n, dtype=bool) if present is None else present[t]
        selection = auction.select(here, budget=BUDGET, bids=np.zeros(n), data_sizes=sizes)
        allocation = auction.allocate(
            round_values,
            budget=BUDGET,
            participants=selection.selected,
            selection=selection,
            ledger=ledger,
        )
        assert allocation.total <= BUDGET * (1 + 1e-9)
        assert np.all(allocation.payments <= selection.escrow + 1e-12)
        assert allocation.ledger is not None
        ledger = allocation.ledger
        paid.append(allocation.payments)
    return np.array(paid), ledger


# Shapley values of 4 rounds, 4 honest owners of 200 reviews then the owner of 300 (whole, or
# split in 3), exact scores, MiniLM head mode (recorded on seeds 4 and 3). In round 1 the
# three pieces are together worth 2.6-2.8x the whole: a saturating game's Shapley value credits
# each piece with the first examples' worth; later rounds are within the noise.
RECORDED = {
    (4, 1): [
        [0.0056, 0.0179, 0.0125, 0.0366, 0.0118],
        [0.0003, 0.0088, 0.0028, 0.0087, 0.0022],
        [-0.004, 0.0002, 0.002, 0.0125, -0.0014],
        [0.0, 0.0039, 0.001, 0.0076, -0.0018],
    ],
    (4, 3): [
        [0.0025, 0.0133, 0.0086, 0.0309, 0.0051, 0.0127, 0.0124],
        [0.0043, 0.0099, 0.0066, 0.0092, -0.01, 0.0045, -0.0015],
        [-0.0031, 0.0008, 0.0002, 0.01, -0.0001, 0.0011, 0.0003],
        [0.0, 0.002, -0.0015, 0.0056, 0.0002, 0.0008, 0.0016],
    ],
    (3, 1): [
        [0.0054, 0.021, 0.0174, 0.0328, 0.0114],
        [0.0043, 0.0109, 0.0067, 0.0106, -0.0014],
        [-0.0032, 0.004, 0.0051, 0.0049, 0.003],
        [-0.0047, 0.0046, 0.0024, 0.0083, -0.0042],
    ],
    (3, 3): [
        [0.0024, 0.0163, 0.0145, 0.0254, 0.0085, 0.0124, 0.0112],
        [0.0043, 0.01, 0.0056, 0.0125, -0.0051, -0.0052, 0.0004],
        [-0.0025, 0.0041, 0.0056, 0.0063, -0.0009, 0.0009, -0.0004],
        [0.0, 0.0055, 0.0011, 0.0074, -0.0015, -0.0006, -0.0012],
    ],
}
ABSENT = {(4, 1): 3, (4, 3): 3, (3, 3): 3}  # honest owner 0 stopped joining in round 4


def owner_pay(auction: Auction, seed: int, k: int) -> float:
    sizes = np.array([200.0] * 4 + [300.0 / k] * k)
    values = [np.array(v) for v in RECORDED[(seed, k)]]
    present = [np.ones(4 + k, dtype=bool) for _ in values]
    if (seed, k) in ABSENT:
        present[ABSENT[(seed, k)]][0] = False
    paid, _ = play(auction, values, sizes, present)
    return float(paid[:, 4:].sum())


@pytest.mark.parametrize(
    ("seed", "mutants"),
    [(3, (Auction(full_share=1.0),)), (4, (Auction(full_share=1.0), PerRoundRelease()))],
)
def test_split_gains_nothing_on_recorded_values(seed: int, mutants: tuple[Auction, ...]) -> None:
    whole, split = owner_pay(Auction(), seed, 1), owner_pay(Auction(), seed, 3)
    assert whole > 0
    assert split <= 1.05 * whole
    # the mutations pay the split owner more than 5% over the whole (on seed 3 the release
    # round by round happens not to: 0.76; as on the real run, 0.86)
    for mutant in mutants:
        assert owner_pay(mutant, seed, 3) > 1.05 * owner_pay(mutant, seed, 1)


def test_first_round_and_no_ledger_are_the_one_round_rule() -> None:
    sizes = np.array([1.0, 2.0, 3.0])
    values = np.array([0.5, -0.1, 0.2])
    auction = Auction()
    selection = auction.select(
        np.ones(3, dtype=bool), budget=1.0, bids=np.zeros(3), data_sizes=sizes
    )
    common = {"budget": 1.0, "participants": selection.selected, "selection": selection}
    alone = auction.allocate(values, **common)  # type: ignore[arg-type]  # typed by name
    first = auction.allocate(values, ledger=PaymentLedger.initial(3), **common)  # type: ignore[arg-type]
    np.testing.assert_allclose(alone.payments, first.payments)
    np.testing.assert_allclose(
        alone.payments, release(selection.escrow, values, auction.full_share)
    )
    assert alone.ledger is None and first.ledger is not None
    np.testing.assert_allclose(first.ledger.paid, first.payments)
    np.testing.assert_allclose(first.ledger.escrow, selection.escrow)


def test_poisoner_and_free_rider_are_paid_nothing_over_the_run() -> None:
    # identity 3 always harms, identity 4 won with declared data and delivers nothing
    sizes = np.full(5, 100.0)
    values = [np.array([0.05, 0.04, 0.06, -0.03, 0.0]), np.array([0.01, -0.002, 0.004, -0.02, 0.0])]
    paid, ledger = play(Auction(), values, sizes)
    assert np.all(paid[:, 3:] == 0.0)
    # honest deliverers of at least their declared share are paid their full escrow
    assert np.all(paid[0, :3] > 0)
    np.testing.assert_allclose(ledger.paid, paid.sum(axis=0))


def test_a_turncoat_is_not_paid_for_a_round_that_undoes_its_value() -> None:
    sizes = np.full(3, 100.0)
    values = [np.array([0.05, 0.05, 0.05]), np.array([0.01, 0.01, -0.06])]
    paid, _ = play(Auction(), values, sizes)
    assert paid[0, 2] > 0 and paid[1, 2] == 0.0
    assert np.all(paid[1, :2] > 0)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, (4, n), elements=st.floats(-1.0, 2.0)),
            hnp.arrays(np.float64, n, elements=st.floats(0.0, 50.0)),
        )
    )
)
def test_within_budget_and_escrow_every_round(instance: tuple[FloatArray, FloatArray]) -> None:
    values, sizes = instance
    paid, ledger = play(Auction(), list(values), sizes)  # play asserts the round budget
    assert np.all(paid >= 0)
    assert np.all(ledger.paid <= ledger.escrow * (1 + 1e-9) + 1e-12)


def test_ledger_round_trip_and_bad_input() -> None:
    ledger = PaymentLedger(escrow=np.ones(2), value=np.array([0.1, -0.2]), paid=np.zeros(2))
    again = PaymentLedger.from_arrays(ledger.to_arrays())
    for name in ("escrow", "value", "paid"):
        np.testing.assert_array_equal(getattr(again, name), getattr(ledger, name))
    with pytest.raises(ValueError, match="equal shape"):
        PaymentLedger(escrow=np.ones(2), value=np.ones(3), paid=np.ones(2))
    with pytest.raises(ValueError, match=">= 0"):
        PaymentLedger(escrow=-np.ones(2), value=np.ones(2), paid=np.ones(2))
    with pytest.raises(ValueError, match="lack"):
        PaymentLedger.from_arrays({"escrow": np.ones(2)})
    with pytest.raises(ValueError, match="ledger must cover 3"):
        Auction().allocate(np.ones(3), budget=1.0, ledger=PaymentLedger.initial(2))


@dataclass(frozen=True)
class ReleasedPerReplica(Auction):
    """Mutation: every replica's escrow released on its own (no replica groups)."""

    name: ClassVar[str] = "auction"

    def _pay(self, round_: Round) -> FloatArray:
        return super()._pay(replace(round_, groups=np.arange(round_.groups.size)))


def replication_gain(auction: Auction, seed: int) -> float:
    """Relative payoff gain of player 0 showing its update under 3 identities (trained once)."""
    game = fl_game(7, np.random.default_rng(seed), noise=0.003, null_player=False)
    costs = game.sizes * (0.5 / game.sizes.sum())
    return market.sybil_gain(
        game,
        7,
        0,
        3,
        auction,
        budget=1.0,
        costs=costs,
        data_sizes=game.sizes,
        group_clones=True,
        clones_true_cost=float(costs[0]),
    ).relative_gain


def test_replicas_are_released_once() -> None:
    gains = [replication_gain(Auction(), seed) for seed in range(4)]
    mutant = [replication_gain(ReleasedPerReplica(), seed) for seed in range(4)]
    assert max(gains) <= 0.0  # one escrow, priced lower by the inflated declared value
    assert float(np.mean(mutant)) > 1.0  # the mutation: each replica paid its own escrow
