"""Shared fixtures for the market tests: oracle games with known Shapley values."""

from __future__ import annotations

import numpy as np
import pytest

from market.games import (
    AdditiveGame,
    AirportGame,
    GloveGame,
    OracleGame,
    UnanimityGame,
    WeightedVotingGame,
    fl_game,
)
from market.scoring.exact import shapley_from_table
from market.scoring.surrogate.stacking import Stacker


def oracle_games() -> list[OracleGame]:
    """One instance of every closed-form oracle game."""
    rng = np.random.default_rng(2024)
    return [
        AirportGame(rng.uniform(0.0, 10.0, 8)),
        GloveGame(3, 5),
        GloveGame(4, 4),
        WeightedVotingGame((6, 4, 3, 3, 2, 1, 1), 11),
        AdditiveGame(rng.normal(size=7), offset=0.3),
        UnanimityGame(6, frozenset({0, 2, 5})),
    ]


@pytest.fixture(params=oracle_games(), ids=lambda g: type(g).__name__)
def oracle(request: pytest.FixtureRequest) -> OracleGame:
    """Each oracle game in turn."""
    game: OracleGame = request.param
    return game


@pytest.fixture
def fl10_table() -> np.ndarray:
    """Utility table of a noisy FL-like game with 10 players."""
    return fl_game(10, np.random.default_rng(7)).table()


# --- shared by the surrogate samplers' tests (test_surrogate_control, test_surrogate_focused) ---

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
SAMPLER_VOTING = WeightedVotingGame((4, 3, 3, 2, 1, 4, 0), 10)
"""Player 6 is null, players 0 and 5 are symmetric, player 4 is rarely pivotal."""


def z_against_exact(draws: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Per player, the mean of ``draws`` (seeds x players) minus exact Shapley, in standard
    errors of the mean."""
    se = draws.std(axis=0, ddof=1) / np.sqrt(len(draws)) + 1e-12
    out: np.ndarray = (draws.mean(axis=0) - shapley_from_table(table)) / se
    return out


def symmetric_gap(draws: np.ndarray) -> float:
    """The mean gap of the symmetric players 0 and 5 of :data:`SAMPLER_VOTING`, in standard
    errors."""
    diff = draws[:, 0] - draws[:, 5]
    return float(abs(diff.mean()) / (diff.std(ddof=1) / np.sqrt(len(diff)) + 1e-12))


def true_null_of_sampler_voting(masks: np.ndarray, values: np.ndarray, n: int) -> list[int]:
    """The null decision told the one true null of :data:`SAMPLER_VOTING`."""
    return [6]
