"""Mechanism guarantees on FL-like games, each shown to fail on a broken variant.

Every mechanism lists the properties it guarantees in ``guarantees``; each property below is
asserted for the mechanisms that claim it, asserted to FAIL for those that do not claim it
(so a claim cannot silently go missing), and asserted to fail for a deliberately broken
variant of the default mechanism (the mutation the test would catch):

* budget balance -- mutation: payments scaled by 1.1 past the base class's guard;
* individual rationality -- mutation: the cost cover removed (surplus only);
* free riders <= 2% of payments -- mutation: the old per-head floor (20% of the budget) re-added;
* a poisoner earns less than every clean honest participant -- mutation: ``|phi|`` instead of
  ``max(phi, 0)``;
* Sybil split and replication over 3 identities gain <= 5% -- mutation: Shapley valuation
  with the surplus split by it (not by grand-coalition marginals).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import market
from market.games import SaturatingGame, fl_game
from market.mechanisms import BanzhafCover, Mechanism, Round, cover_then_share
from market.types import FloatArray

N, K, BUDGET, SEEDS = 7, 3, 1.0, 4
FREE_RIDER_SHARE, SYBIL_GAIN = 0.02, 0.05


@dataclass(frozen=True)
class WithFloor(BanzhafCover):
    """Mutation: an equal per-head floor of 20% of the budget (the old ``shapley_fair``)."""

    name: ClassVar[str] = "mutant_floor"

    def _pay(self, round_: Round) -> FloatArray:
        heads = int(round_.participants.sum())
        floor = np.where(round_.participants, 0.2 * round_.budget / heads, 0.0)
        rest = dataclasses.replace(round_, budget=0.8 * round_.budget)
        return floor + super()._pay(rest)


@dataclass(frozen=True)
class NoCover(BanzhafCover):
    """Mutation: no cost cover, the whole budget split by value."""

    name: ClassVar[str] = "mutant_no_cover"

    def _pay(self, round_: Round) -> FloatArray:
        return market.mechanisms.proportional_split(round_.positive, round_.budget)


@dataclass(frozen=True)
class AbsoluteValue(BanzhafCover):
    """Mutation: harm is paid like help (``|phi|``)."""

    name: ClassVar[str] = "mutant_abs"

    def _pay(self, round_: Round) -> FloatArray:
        weights = np.where(round_.participants, np.abs(round_.contributions), 0.0)
        return cover_then_share(round_, weights)


@dataclass(frozen=True)
class ShapleyValued(BanzhafCover):
    """Mutation: the default rule fed Shapley values, its surplus split by them too."""

    name: ClassVar[str] = "mutant_shapley"
    valuation: ClassVar[market.Estimator | None] = None
    uses_marginals: ClassVar[bool] = False


@dataclass(frozen=True)
class OverBudget(BanzhafCover):
    """Mutation: pays 10% over the budget, bypassing the base class's guard."""

    name: ClassVar[str] = "mutant_over"

    def allocate(self, contributions: FloatArray, **kwargs: object) -> market.Allocation:
        budget = float(kwargs.pop("budget"))  # type: ignore[arg-type]  # a float by contract
        inner = super().allocate(contributions, budget=1.1 * budget, **kwargs)  # type: ignore[arg-type]
        return dataclasses.replace(inner, budget=budget)


def instance(seed: int) -> tuple[FloatArray, FloatArray, np.ndarray, np.ndarray, SaturatingGame]:
    """Utility table, costs, honest mask, free-rider mask, and the honest game.

    Players ``0 .. N-3`` are honest, ``N-2`` a free rider (no data, no cost), ``N-1`` a
    poisoner (it trains, so it has a cost, and lowers every coalition it joins by 0.05).
    Honest costs are proportional to data and sum to half the budget.
    """
    game = fl_game(N, np.random.default_rng(seed), noise=0.003, null_player=False)
    qualities = game.qualities.copy()
    qualities[-2:] = 0.0
    game = dataclasses.replace(game, qualities=qualities)
    table = game.table() - 0.05 * ((np.arange(1 << N) >> (N - 1)) & 1)
    honest = np.arange(N) < N - 2
    costs = np.where(honest, game.sizes, 0.0)
    costs = costs * (0.5 * BUDGET / costs.sum())
    costs[-1] = costs[:-2].mean()
    riders = np.arange(N) == N - 2
    return table, costs, honest, riders, game


def pay(mechanism: Mechanism, seed: int) -> tuple[FloatArray, FloatArray, FloatArray, np.ndarray]:
    table, costs, honest, riders, game = instance(seed)
    values = market.values_for(mechanism, table, N)
    effort = np.where(riders, 0.0, game.sizes)  # what a meter reads: the free rider trains nothing
    payments = mechanism.run_round(
        values, budget=BUDGET, costs=costs, data_sizes=game.sizes, effort=effort
    )
    return payments.payments, values, costs, honest


def ir_holds(mechanism: Mechanism) -> bool:
    """Every honest positive contributor paid at least its cost (budget covers all costs)."""
    for seed in range(SEEDS):
        payments, values, costs, honest = pay(mechanism, seed)
        if market.ir_rate(payments, costs, contributing=honest & (values > 0)) < 1.0:
            return False
    return True


def free_riders_bounded(mechanism: Mechanism) -> bool:
    for seed in range(SEEDS):
        payments, _, _, _ = pay(mechanism, seed)
        riders = np.arange(N) == N - 2
        if payments[riders].sum() > FREE_RIDER_SHARE * max(payments.sum(), 1e-12):
            return False
    return True


def poisoner_below_honest(mechanism: Mechanism) -> bool:
    for seed in range(SEEDS):
        payments, values, _, honest = pay(mechanism, seed)
        clean = honest & (values > 0)
        if payments[-1] >= payments[clean].min():
            return False
    return True


def sybil_bounded(mechanism: Mechanism) -> bool:
    """Mean relative payoff gain of splitting and of replicating player 0 <= 5%."""
    split, repl = [], []
    for seed in range(SEEDS):
        _, costs, _, _, game = instance(seed)
        honest_game = game  # the poisoner-free game: the attacker holds honest data
        costs = costs.copy()
        costs[-1] = 0.0  # there player N-1 holds no data; it does not train either
        c0, s0 = float(costs[0]), float(game.sizes[0])
        common = {"budget": BUDGET, "costs": costs, "data_sizes": game.sizes}
        split.append(
            market.sybil_gain(
                honest_game,
                N,
                0,
                K,
                mechanism,
                cloned_utility=game.split_player(0, K),
                clone_costs=np.full(K, c0 / K),
                clone_sizes=np.full(K, s0 / K),
                **common,
            ).relative_gain
        )
        repl.append(
            market.sybil_gain(
                honest_game, N, 0, K, mechanism, group_clones=True, clones_true_cost=c0, **common
            ).relative_gain
        )
    return max(float(np.mean(split)), float(np.mean(repl))) <= SYBIL_GAIN


CHECKS = {
    "ir": ir_holds,
    "free_rider": free_riders_bounded,
    "poisoner": poisoner_below_honest,
    "sybil": sybil_bounded,
}


@pytest.mark.parametrize("prop", sorted(CHECKS))
@pytest.mark.parametrize("name", sorted(market.MECHANISMS))
def test_claimed_properties_hold_and_unclaimed_fail(name: str, prop: str) -> None:
    mechanism = market.make_mechanism(name)
    assert mechanism.guarantees <= market.mechanisms.PROPERTIES
    assert CHECKS[prop](mechanism) is (prop in mechanism.guarantees)


@pytest.mark.parametrize(
    ("mutant", "prop"),
    [
        (NoCover(), "ir"),
        (WithFloor(), "free_rider"),
        (AbsoluteValue(), "poisoner"),
        (ShapleyValued(), "sybil"),
    ],
)
def test_each_check_fails_on_its_mutation(mutant: Mechanism, prop: str) -> None:
    assert CHECKS[prop](market.make_mechanism(market.mechanisms.DEFAULT_MECHANISM))
    assert not CHECKS[prop](mutant)


def test_default_mechanism_guarantees_everything() -> None:
    default = market.make_mechanism(market.mechanisms.DEFAULT_MECHANISM)
    assert default.guarantees == market.mechanisms.PROPERTIES


@st.composite
def rounds(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(1, 9))
    return {
        "contributions": draw(hnp.arrays(np.float64, n, elements=st.floats(-1.0, 5.0))),
        "costs": draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 2.0))),
        "sizes": draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 100.0))),
        "budget": draw(st.floats(0.0, 20.0)),
    }


def within_budget(mechanism: Mechanism, round_: dict[str, object]) -> bool:
    budget = float(round_["budget"])  # type: ignore[arg-type]  # drawn as float
    try:
        allocation = mechanism.run_round(
            np.asarray(round_["contributions"]),
            budget=budget,
            costs=np.asarray(round_["costs"]),
            data_sizes=np.asarray(round_["sizes"]),
            rng=np.random.default_rng(0),
        )
    except ValueError as error:  # Allocation refuses to exceed the budget
        return "exceeds the budget" not in str(error)
    return bool(allocation.total <= budget * (1 + 1e-9) + 1e-12 and allocation.payments.min() >= 0)


@pytest.mark.parametrize("name", sorted(market.MECHANISMS))
@settings(max_examples=40, deadline=None)
@given(round_=rounds())
def test_budget_balance(name: str, round_: dict[str, object]) -> None:
    assert within_budget(market.make_mechanism(name), round_)


def test_budget_check_fails_on_its_mutation() -> None:
    round_ = {
        "contributions": np.array([1.0, 2.0]),
        "costs": np.zeros(2),
        "sizes": np.ones(2),
        "budget": 1.0,
    }
    assert not within_budget(OverBudget(), round_)
