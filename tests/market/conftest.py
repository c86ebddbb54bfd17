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
