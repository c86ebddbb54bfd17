"""Batched and walk access to a game: all-or-nothing on the budget, the bitmask protocol
(:class:`market.types.MaskUtility`) used instead of frozensets, estimates unchanged.

Broken variants played against the properties (each asserted to FAIL below): a Game that
ignores the mask protocol (``_FrozensetGame``: builds every coalition as a frozenset), a
``values_many`` that evaluates what fits and then stops (``_PartialGame``), and an MSR
sampler that stops one draw late (``_LateStop``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

import market
from market.game import BudgetExhausted, Game, coalition_of, mask_of_bits
from market.scoring.banzhaf import MSRBanzhaf
from market.types import FloatArray, IntArray, MaskUtility


class _MaskedAdditive:
    """``u(S) = sum of w_i over S``, by frozenset or by bitmask; counts each kind of call."""

    def __init__(self, weights: np.ndarray) -> None:
        self.w = weights
        self.calls = {"frozenset": 0, "mask": 0, "masks": 0, "along": 0}

    def __call__(self, coalition: frozenset[int]) -> float:
        self.calls["frozenset"] += 1
        return float(sum(self.w[i] for i in coalition))

    def _of(self, mask: int) -> float:
        return float(sum(self.w[i] for i in coalition_of(mask, len(self.w))))

    def value_of_mask(self, mask: int) -> float:
        self.calls["mask"] += 1
        return self._of(mask)

    def values_of_masks(self, masks: Sequence[int]) -> FloatArray:
        self.calls["masks"] += 1
        return np.array([self._of(m) for m in masks])

    def values_along(self, order: IntArray, stop: int) -> FloatArray:
        self.calls["along"] += 1
        return np.cumsum(self.w[order[:stop]])


class _FrozensetGame(Game):
    def __init__(self, utility: object, n_players: int, *, budget: int | None = None) -> None:
        super().__init__(utility, n_players, budget=budget)  # type: ignore[arg-type]
        self._masked = None


class _PartialGame(Game):
    def _new(self, masks):  # type: ignore[no-untyped-def]
        return list(dict.fromkeys(m for m in masks if m not in self._cache))[: self.remaining]


def _never_builds_frozensets(cls: type[Game]) -> bool:
    utility = _MaskedAdditive(np.arange(1.0, 41.0))
    assert isinstance(utility, MaskUtility)
    game = cls(utility, 40, budget=200)
    order = np.random.default_rng(0).permutation(40).astype(np.int64)
    along = game.values_along(order)
    many = game.values_many([1, 3, (1 << 40) - 1, 3])
    single = game.value(0b111)
    ok = np.allclose(along, np.cumsum(utility.w[order])) and many.tolist() == [1, 3, 820, 3]
    return bool(ok and single == 6.0 and utility.calls["frozenset"] == 0)


def test_mask_utilities_are_asked_by_mask_in_batches() -> None:
    assert _never_builds_frozensets(Game)
    assert not _never_builds_frozensets(_FrozensetGame)


def _all_or_nothing(cls: type[Game]) -> bool:
    game = cls(_MaskedAdditive(np.ones(10)), 10, budget=5)
    game.value(0)
    try:
        game.values_many([1, 2, 4, 8, 16])  # five new, four left
    except BudgetExhausted:
        pass
    try:
        game.values_along(np.arange(10, dtype=np.int64))
    except BudgetExhausted:
        pass
    return game.evaluations == 1


def test_batches_are_all_or_nothing_on_the_budget() -> None:
    assert _all_or_nothing(Game)
    assert not _all_or_nothing(_PartialGame)


def _sequential_msr(game: Game, rng: np.random.Generator, cap: int) -> FloatArray:
    """The MSR sampler as it was before batching: draw, evaluate, stop at the budget."""
    n, rows, values = game.n_players, [], []
    for _ in range(cap * game.budget):
        bits = rng.integers(0, 2, size=n, dtype=np.int64).astype(bool)
        try:
            values.append(game.value(mask_of_bits(bits)))
        except BudgetExhausted:
            break
        rows.append(bits)
    member, y = np.array(rows), np.array(values)
    return np.array([y[member[:, i]].mean() - y[~member[:, i]].mean() for i in range(n)])


class _LateStop(MSRBanzhaf):
    def _run(self, game: Game, rng: np.random.Generator) -> market.Contribution:
        wider = Game(game._utility, game.n_players, budget=game.budget + 1)
        return super()._run(wider, rng)


@pytest.mark.parametrize("n,budget", [(6, 20), (9, 40), (70, 30)])
def test_batched_msr_is_the_sequential_sampler(n: int, budget: int) -> None:
    weights = np.random.default_rng(n).normal(size=n)

    def utility(s: frozenset[int]) -> float:
        return float(sum(weights[i] for i in s) ** 2)

    want = _sequential_msr(Game(utility, n, budget=budget), np.random.default_rng(1), 20)
    got = MSRBanzhaf().estimate(utility, n, budget=budget, rng=np.random.default_rng(1))
    masked = MSRBanzhaf().estimate(
        _MaskedAdditive(weights), n, budget=budget, rng=np.random.default_rng(1)
    )
    assert np.allclose(got.values, want, rtol=0, atol=1e-12)
    with pytest.raises(AssertionError, match="exceeded its budget"):  # one draw late
        _LateStop().estimate(utility, n, budget=budget, rng=np.random.default_rng(1))
    assert got.evaluations == budget and np.isfinite(masked.values).all()
