"""Sybil attacks: one participant splits into k identities. Reports the gain per mechanism."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import market
from market.games import fl_game

N, K, BUDGET = 6, 3, 1.0


@pytest.fixture(scope="module")
def game() -> market.games.SaturatingGame:
    """A noise-free FL-like game (data are substitutes: pooled data saturate)."""
    return fl_game(N, np.random.default_rng(1), noise=0.0)


def test_shapley_proportional_rewards_replication(game: market.games.SaturatingGame) -> None:
    # Execute
    result = market.sybil_gain(game, N, 0, K, market.make_mechanism("proportional"), budget=BUDGET)
    # Assert: exact Shapley is not replication-robust on substitutes (Han et al. 2022)
    print(f"shapley-proportional replicate x{K}: gain {result.gain:+.4f} of {result.original:.4f}")
    assert result.k == K
    assert result.gain > 0
    assert result.clones <= BUDGET


def test_shapley_proportional_on_a_data_split(game: market.games.SaturatingGame) -> None:
    split = game.split_player(0, K)
    result = market.sybil_gain(
        game, N, 0, K, market.make_mechanism("proportional"), budget=BUDGET, cloned_utility=split
    )
    print(f"shapley-proportional split x{K}: gain {result.gain:+.4f} of {result.original:.4f}")
    assert result.gain > 0  # splitting a concave-utility dataset pays under Shapley


def test_loo_proportional_resists_replication(game: market.games.SaturatingGame) -> None:
    result = market.sybil_gain(
        game, N, 0, K, market.make_mechanism("proportional"), budget=BUDGET, method="loo"
    )
    assert result.clones == pytest.approx(0.0, abs=1e-12)  # each replica is redundant
    assert result.gain < 0


def test_flat_gain_is_the_extra_shares(game: market.games.SaturatingGame) -> None:
    result = market.sybil_gain(game, N, 0, K, market.make_mechanism("flat"), budget=BUDGET)
    assert result.gain == pytest.approx(K / (N + K - 1) - 1 / N)


@pytest.mark.parametrize("name", sorted(market.MECHANISMS))
def test_sybil_gain_reported_for_every_mechanism(
    name: str, game: market.games.SaturatingGame, record_property: Callable[[str, object], None]
) -> None:
    result = market.sybil_gain(
        game, N, 0, K, market.make_mechanism(name), budget=BUDGET, costs=np.full(N, 0.01)
    )
    record_property("sybil_gain", result.gain)
    assert np.isfinite(result.gain)
    assert 0.0 <= result.clones <= BUDGET + 1e-12
    assert result.gain == pytest.approx(result.clones - result.original)


# The table documented in market/mechanisms/__init__.py: (replicas, data split, LOO replicas).
DOCUMENTED = {
    "flat": (0.208, 0.208, 0.208),
    "shapley_fair": (0.145, 0.059, -0.186),
    "proportional": (0.129, 0.021, -0.285),
    "auction": (0.129, 0.021, -0.285),
    "reputation": (0.079, -0.052, -0.304),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_documented_sybil_table(name: str, game: market.games.SaturatingGame) -> None:
    mechanism = market.make_mechanism(name)
    costs = np.full(N, 0.01)
    replicas = market.sybil_gain(game, N, 0, K, mechanism, budget=BUDGET, costs=costs)
    split = market.sybil_gain(
        game, N, 0, K, mechanism, budget=BUDGET, costs=costs, cloned_utility=game.split_player(0, K)
    )
    loo = market.sybil_gain(game, N, 0, K, mechanism, budget=BUDGET, costs=costs, method="loo")
    measured = (replicas.gain, split.gain, loo.gain)
    assert measured == pytest.approx(DOCUMENTED[name], abs=1e-3)
