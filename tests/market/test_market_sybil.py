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
    result = market.sybil_gain(
        game, N, 0, K, market.make_mechanism("proportional"), budget=BUDGET, method="exact"
    )
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
    record_property("sybil_relative_gain", result.relative_gain)
    record_property("sybil_gain", result.gain)
    assert np.isfinite(result.gain)
    assert 0.0 <= result.clones <= BUDGET + 1e-12
    assert result.gain == pytest.approx(result.clones - result.original)


def test_default_mechanism_bounds_split_and_replication(game: market.games.SaturatingGame) -> None:
    # Prepare: costs proportional to data; the attacker (player 0) pays its own cost once
    mechanism = market.make_mechanism(market.mechanisms.DEFAULT_MECHANISM)
    costs = 0.3 * game.sizes / game.sizes.sum()
    c0 = float(costs[0])
    # Execute
    split = market.sybil_gain(
        game,
        N,
        0,
        K,
        mechanism,
        budget=BUDGET,
        costs=costs,
        cloned_utility=game.split_player(0, K),
        clone_costs=np.full(K, c0 / K),
    )
    replicas = market.sybil_gain(
        game,
        N,
        0,
        K,
        mechanism,
        budget=BUDGET,
        costs=costs,
        group_clones=True,
        clones_true_cost=c0,
    )
    per_round = market.sybil_gain_estimate(game.table(), N, mechanism, budget=BUDGET, costs=costs)
    # Assert
    assert split.relative_gain <= 0.05 and replicas.relative_gain <= 0.05
    assert per_round.shape == (N,) and np.all(per_round <= 0.05)
    assert replicas.relative_gain == pytest.approx(per_round[0])
    # ... and the same estimate flags Shapley-valued payments (the mutation)
    shapley = market.sybil_gain_estimate(
        game.table(), N, market.make_mechanism("shapley_fair"), budget=BUDGET, costs=costs
    )
    assert shapley.max() > 0.05


def test_noisy_copies_that_evade_replica_grouping_gain_nothing_under_metered_effort() -> None:
    """Issue 25, part 5: the estimate also replays *noisy* copies, which the replica detector
    cannot group (``group_clones=False``); copies are backed by no metered training, so the
    default, which pays metered effort, gives them nothing, while a rule that pays identities
    Shapley shares and covers each (``shapley_fair``) pays every copy."""
    game = fl_game(N, np.random.default_rng(3), noise=0.003)
    costs = 0.02 * np.ones(N)
    effort = 100.0 * np.ones(N)
    gains = {
        name: market.sybil_gain(
            game,
            N,
            0,
            K,
            market.make_mechanism(name),
            budget=BUDGET,
            costs=costs,
            effort=effort,
            group_clones=False,
            clones_true_cost=0.02,  # one training run; the copies cost nothing
        ).relative_gain
        for name in ("pooled_value", "shapley_fair")
    }
    assert gains["pooled_value"] <= 0.05
    assert gains["shapley_fair"] > 0.05
