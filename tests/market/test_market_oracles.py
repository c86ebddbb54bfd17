"""Exact Shapley and Banzhaf values against closed forms and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import market
from market.games import OracleGame, SaturatingGame, fl_game


def brute_force_shapley(table: np.ndarray, n: int) -> np.ndarray:
    """Average marginal contribution over all n! orders (independent of the vectorised code)."""
    phi = np.zeros(n)
    for order in itertools.permutations(range(n)):
        mask = 0
        for player in order:
            phi[player] += table[mask | (1 << player)] - table[mask]
            mask |= 1 << player
    return phi / math.factorial(n)


def test_exact_matches_closed_form(oracle: OracleGame) -> None:
    # Execute
    from_callable = market.estimate(oracle, oracle.n_players, "exact")
    from_table = market.estimate(oracle.table(), oracle.n_players, "exact")
    # Assert
    truth = oracle.shapley_values()
    np.testing.assert_allclose(from_callable.values, truth, atol=1e-9, rtol=0)
    np.testing.assert_allclose(from_table.values, truth, atol=1e-9, rtol=0)
    assert from_callable.evaluations == 2**oracle.n_players


def test_closed_forms_match_brute_force(oracle: OracleGame) -> None:
    if oracle.n_players > 8:
        pytest.skip("brute force over n! orders")
    np.testing.assert_allclose(
        brute_force_shapley(oracle.table(), oracle.n_players), oracle.shapley_values(), atol=1e-9
    )


def test_vectorised_exact_matches_brute_force_on_random_tables() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 7):
        table = rng.normal(size=2**n)
        np.testing.assert_allclose(
            market.shapley_from_table(table), brute_force_shapley(table, n), atol=1e-12
        )


def test_banzhaf_from_table_matches_definition() -> None:
    rng = np.random.default_rng(4)
    n = 6
    table = rng.normal(size=2**n)
    expected = np.zeros(n)
    for i in range(n):
        for mask in range(2**n):
            if not mask >> i & 1:
                expected[i] += table[mask | 1 << i] - table[mask]
    np.testing.assert_allclose(market.banzhaf_from_table(table), expected / 2 ** (n - 1))


def test_exact_n16_from_table_is_vectorised() -> None:
    table = np.random.default_rng(5).normal(size=2**16)
    result = market.estimate(table, 16, "exact")
    assert result.evaluations == 2**16
    assert abs(result.values.sum() - (table[-1] - table[0])) < 1e-9


def test_fl_game_null_and_duplicate_without_noise() -> None:
    game = fl_game(8, np.random.default_rng(1), noise=0.0)
    phi = game.shapley_values()
    assert abs(phi[-1]) < 1e-12  # quality 0: null player
    assert abs(phi[-2] - phi[0]) < 1e-12  # duplicate of player 0: symmetric
    assert np.all(phi[:-1] > 0)


def test_split_player_keeps_total_data() -> None:
    game = fl_game(5, np.random.default_rng(2), noise=0.0)
    split = game.split_player(1, 3)
    assert isinstance(split, SaturatingGame)
    assert split.n_players == 7
    assert split(frozenset(range(7))) == pytest.approx(game(frozenset(range(5))))
