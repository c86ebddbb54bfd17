"""The game wrapper: memoisation, budget discipline, bad utilities."""

from __future__ import annotations

import numpy as np
import pytest

from market.game import BudgetExhausted, Game, coalition_of, mask_of, popcounts


def test_memoises_distinct_coalitions() -> None:
    # Prepare
    calls: list[frozenset[int]] = []

    def utility(s: frozenset[int]) -> float:
        calls.append(s)
        return float(len(s))

    game = Game(utility, 3, budget=4)
    # Execute
    values = [game.value(m) for m in (0, 1, 1, 3, 0, 7)]
    # Assert
    assert values == [0.0, 1.0, 1.0, 2.0, 0.0, 3.0]
    assert game.evaluations == 4 == len(calls)
    assert calls[2] == frozenset({0, 1})


def test_refuses_to_exceed_budget() -> None:
    game = Game(lambda s: 1.0, 4, budget=2)
    game.value(0)
    game.value(5)
    with pytest.raises(BudgetExhausted):
        game.value(6)
    assert game.value(5) == 1.0  # cached coalitions stay free
    assert game.evaluations == 2


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_utility_names_the_coalition(bad: float) -> None:
    game = Game(lambda s: bad if s == frozenset({0, 2}) else 0.0, 3)
    game.value(1)
    with pytest.raises(ValueError, match=r"coalition \[0, 2\]"):
        game.value(5)


def test_table_validation() -> None:
    with pytest.raises(ValueError, match="shape"):
        Game(np.zeros(7), 3)
    table = np.zeros(8)
    table[3] = np.nan
    with pytest.raises(ValueError, match=r"coalition \[0, 1\]"):
        Game(table, 3)


def test_table_and_callable_agree() -> None:
    table = np.arange(16, dtype=float)
    game = Game(table, 4)
    assert game.value(mask_of({1, 3})) == 10.0
    assert coalition_of(10, 4) == frozenset({1, 3})
    assert game.full_table() is table
    assert game.evaluations == 16


def test_popcounts() -> None:
    expected = [bin(m).count("1") for m in range(64)]
    assert popcounts(6).tolist() == expected


def test_bad_n_players() -> None:
    with pytest.raises(ValueError, match="n_players"):
        Game(lambda s: 0.0, 0)


@pytest.mark.parametrize("n_players", [1, 7, 64, 65, 200, 2000])
def test_coalition_of_inverts_mask_of_at_every_size(n_players: int) -> None:
    # Both paths (the bit loop up to 64 players, numpy's unpackbits above) must agree with
    # the definition; a mutation reading the bytes big-endian fails at 65 players and more.
    # Prepare
    rng = np.random.default_rng(n_players)
    coalitions = [
        frozenset(np.flatnonzero(rng.random(n_players) < p).tolist()) for p in (0, 0.1, 0.5, 1)
    ]
    # Execute / Assert
    for coalition in coalitions:
        mask = mask_of(coalition)
        assert coalition_of(mask, n_players) == coalition
        # bits at or above n_players are not players
        assert (
            coalition_of(mask | (1 << n_players) | (1 << (n_players + 9)), n_players) == coalition
        )
