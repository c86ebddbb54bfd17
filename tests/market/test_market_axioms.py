"""Shapley axioms as hypothesis properties over random games."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import market

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def tables(draw: st.DrawFn, min_n: int = 2, max_n: int = 6) -> tuple[np.ndarray, int]:
    """A random game table with 2..6 players."""
    n = draw(st.integers(min_n, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).normal(size=2**n), n


def swap_players(table: np.ndarray, n: int, i: int, j: int) -> np.ndarray:
    """The table of the game with players i and j relabelled."""
    masks = np.arange(2**n)
    bi, bj = (masks >> i) & 1, (masks >> j) & 1
    swapped = masks & ~((1 << i) | (1 << j)) | (bi << j) | (bj << i)
    out: np.ndarray = table[swapped]
    return out


@SETTINGS
@given(tables())
def test_efficiency(game: tuple[np.ndarray, int]) -> None:
    table, n = game
    for method in ("exact", "permutation", "surrogate"):
        estimator = market.make_estimator(method)
        for budget in {2**n, max(estimator.minimum_budget(n), 2**n // 2)}:
            phi = estimator.estimate(table, n, budget=budget, rng=np.random.default_rng(0))
            assert abs(phi.values.sum() - (table[-1] - table[0])) < 1e-9, (method, budget)


@SETTINGS
@given(tables())
def test_symmetry(game: tuple[np.ndarray, int]) -> None:
    # Prepare: symmetrise players 0 and 1
    table, n = game
    sym = 0.5 * (table + swap_players(table, n, 0, 1))
    # Execute
    phi = market.estimate(sym, n, "exact").values
    # Assert
    assert abs(phi[0] - phi[1]) < 1e-9


@SETTINGS
@given(tables(), st.data())
def test_null_player(game: tuple[np.ndarray, int], data: st.DataObject) -> None:
    # Prepare: make player k null by copying u(S) to u(S + k)
    table, n = game
    k = data.draw(st.integers(0, n - 1))
    masks = np.arange(2**n)
    null = table[masks & ~(1 << k)]
    # Execute
    exact = market.estimate(null, n, "exact").values
    sampled = market.estimate(null, n, "permutation", budget=n + 1).values
    loo = market.estimate(null, n, "loo").values
    # Assert
    assert abs(exact[k]) < 1e-12
    assert abs(sampled[k]) < 1e-12
    assert abs(loo[k]) < 1e-12


@SETTINGS
@given(tables(), st.integers(0, 2**32 - 1))
def test_additivity(game: tuple[np.ndarray, int], seed: int) -> None:
    table, n = game
    other = np.random.default_rng(seed).normal(size=2**n)
    total = market.estimate(table + other, n, "exact").values
    parts = market.estimate(table, n, "exact").values + market.estimate(other, n, "exact").values
    np.testing.assert_allclose(total, parts, atol=1e-9)


@SETTINGS
@given(
    tables(min_n=1, max_n=7),
    st.sampled_from(["permutation", "tmc", "gtg", "loo", "banzhaf", "surrogate", "exact"]),
    st.floats(0.0, 1.2),
    st.integers(0, 2**32 - 1),
)
def test_estimators_never_exceed_the_budget(
    game: tuple[np.ndarray, int], method: str, fraction: float, seed: int
) -> None:
    table, n = game
    estimator = market.make_estimator(method)
    minimum = estimator.minimum_budget(n)
    budget = max(minimum, int(fraction * 2**n))
    result = estimator.estimate(table, n, budget=budget, rng=np.random.default_rng(seed))
    assert result.evaluations <= budget
    assert np.all(np.isfinite(result.values))
