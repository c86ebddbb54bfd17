"""The game the surrogate samplers are tested on, and the checks every sampler must pass.

Shared by ``test_surrogate_control.py`` and ``test_surrogate_focused.py`` (and the cheap
stacker by ``test_surrogate_reproducible.py``): a 7-player weighted voting game with a null
player and two symmetric players; over hundreds of seeds a sampler's mean must be exact
Shapley and symmetric, and on every seed the null player gets 0 and the values are efficient.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.random import Generator

import market
from market.contribution import Contribution
from market.game import Game
from market.games import WeightedVotingGame
from market.scoring.exact import shapley_from_table
from market.scoring.surrogate.design import design
from market.scoring.surrogate.stacking import Stacker

CHEAP_STACKER = Stacker(
    families=("additive",),
    gp=False,
    folds=3,
    ridge=1e-2,
    max_gp_points=10,
    gp_fit_points=10,
    combine="stack",
)
"""A stacker without GP, so that hundreds of seeds stay fast."""
VOTING = WeightedVotingGame((4, 3, 3, 2, 1, 4, 0), 10)
"""Player 6 is null, players 0 and 5 are symmetric, player 4 is rarely pivotal."""
N = 7
BUDGET = 40
"""The samplers' budget on :data:`VOTING`: 40 of its 128 coalitions."""


def prepared(
    table: np.ndarray, seed: int, budget: int = BUDGET
) -> tuple[Game, np.ndarray, Generator]:
    """The set-up every sampler run shares: the budgeted game, its rng and the border."""
    game = Game(table, N, budget=budget)
    rng = np.random.default_rng(seed)
    border, _, _ = design(N, 2 * N + 2, rng, border_levels=2)
    return game, border, rng


def z_against_exact(draws: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Per player, the mean of ``draws`` (seeds x players) minus exact Shapley, in standard
    errors of the mean."""
    se = draws.std(axis=0, ddof=1) / np.sqrt(len(draws)) + 1e-12
    out: np.ndarray = (draws.mean(axis=0) - shapley_from_table(table)) / se
    return out


def symmetric_gap(draws: np.ndarray) -> float:
    """The mean gap of the symmetric players 0 and 5 of :data:`VOTING`, in standard
    errors."""
    diff = draws[:, 0] - draws[:, 5]
    return float(abs(diff.mean()) / (diff.std(ddof=1) / np.sqrt(len(diff)) + 1e-12))


def assert_unbiased_and_symmetric(draws: np.ndarray, table: np.ndarray) -> None:
    """Over seeds, every player's mean within 4.5 standard errors of exact Shapley, and the
    symmetric players 0 and 5 too."""
    z = z_against_exact(draws, table)
    assert np.all(np.abs(z) < 4.5), z
    assert symmetric_gap(draws) < 4.5


def assert_biased_and_asymmetric(draws: np.ndarray, table: np.ndarray) -> None:
    """What a mutant must fail :func:`assert_unbiased_and_symmetric` by: both checks."""
    z = z_against_exact(draws, table)
    assert np.max(np.abs(z)) > 4.5, z
    assert symmetric_gap(draws) > 4.5


def assert_null_zero_and_efficient(values: np.ndarray, table: np.ndarray) -> None:
    """The null player 6 of :data:`VOTING` gets exactly 0, and the values add up to
    u(N) - u(empty) exactly."""
    assert values[6] == 0.0
    assert values.sum() == pytest.approx(table[-1] - table[0], abs=1e-12)


def assert_estimate_keeps_the_axioms(seed: int, sampler: str) -> Contribution:
    """``market.estimate`` with ``sampler`` on :data:`VOTING`: the null player 0,
    efficiency, and the budget kept."""
    table = VOTING.table()
    est = market.estimate(
        table,
        N,
        "surrogate",
        budget=BUDGET,
        rng=np.random.default_rng(seed),
        sampler=sampler,
    )
    assert_null_zero_and_efficient(est.values, table)
    assert est.evaluations <= BUDGET
    return est


def assert_pays_the_null_player(values_of: Callable[[int], np.ndarray]) -> None:
    """A mutant's values (by seed, on :data:`VOTING`) pay its null player 6."""
    paid = [abs(values_of(seed)[6]) for seed in range(20)]
    assert max(paid) > 1e-6


def assert_breaks_efficiency(values_of: Callable[[int], np.ndarray], seeds: int) -> None:
    """A mutant's values (by seed, on :data:`VOTING`) miss u(N) - u(empty)."""
    table = VOTING.table()
    gaps = [abs(values_of(seed).sum() - (table[-1] - table[0])) for seed in range(seeds)]
    assert max(gaps) > 1e-6


def true_nulls(masks: np.ndarray, values: np.ndarray, n: int) -> list[int]:
    """The null decision told the one true null of :data:`VOTING`."""
    return [6]
