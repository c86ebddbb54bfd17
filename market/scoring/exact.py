"""Exact Shapley value by full enumeration (Shapley 1953), vectorised over bitmasks.

``phi_i = sum_{S not containing i} |S|! (n-|S|-1)! / n! * (u(S + i) - u(S))``. The table of all
``2**n`` utilities is evaluated once (memoised); the sum is then ``n`` numpy reductions over
the table, not a Python loop over ``2**n x n`` (n = 16 takes milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game, as_table, popcounts, shapley_weights
from market.scoring.base import Estimator, all_coalitions
from market.types import FloatArray


def _n_from_table(table: FloatArray) -> int:
    size = int(table.shape[0])
    n = size.bit_length() - 1
    if size < 2 or 1 << n != size:
        raise ValueError(f"utility table length must be 2**n with n >= 1, got {size}")
    return n


def _sum_with_player(values: FloatArray, n_players: int) -> FloatArray:
    """Return ``out[i] = sum of values[m] over bitmasks m that contain player i``."""
    out = np.empty(n_players, dtype=np.float64)
    for i in range(n_players):
        out[i] = values.reshape(-1, 2, 1 << i)[:, 1, :].sum()
    return out


def shapley_from_table(table: FloatArray) -> FloatArray:
    """Exact Shapley values from a utility table of length ``2**n`` indexed by bitmask.

    Sums weighted marginals ``u(S + i) - u(S)``, so a null player's value is exactly 0.
    """
    table = np.asarray(table, dtype=np.float64)
    n = _n_from_table(table)
    table = as_table(table, n)
    sizes = popcounts(n)
    w = shapley_weights(n)
    result = np.empty(n, dtype=np.float64)
    for i in range(n):
        pairs = table.reshape(-1, 2, 1 << i)
        marginal = pairs[:, 1, :] - pairs[:, 0, :]
        without = sizes.reshape(-1, 2, 1 << i)[:, 0, :]
        result[i] = float(np.sum(marginal * w[without]))
    return result


def banzhaf_from_table(table: FloatArray) -> FloatArray:
    """Exact Banzhaf values ``2**-(n-1) * sum_S (u(S + i) - u(S))`` from a utility table."""
    table = np.asarray(table, dtype=np.float64)
    n = _n_from_table(table)
    table = as_table(table, n)
    result: FloatArray = (2.0 * _sum_with_player(table, n) - table.sum()) / (1 << (n - 1))
    return result


@dataclass(frozen=True)
class ExactShapley(Estimator):
    """Exact Shapley value; needs a budget of ``2**n`` evaluations."""

    name: ClassVar[str] = "exact"

    def minimum_budget(self, n_players: int) -> int:
        """All ``2**n`` coalitions."""
        return 1 << n_players

    def default_budget(self, n_players: int) -> int:
        """All ``2**n`` coalitions."""
        return 1 << n_players

    def effective_budget(self, n_players: int, requested: int) -> int:
        """Always ``2**n``, whatever was requested."""
        return 1 << n_players

    def planned_coalitions(self, n_players: int, budget: int) -> list[frozenset[int]]:
        """Every coalition when ``n <= 16`` (a larger list is not materialised)."""
        return all_coalitions(n_players) if n_players <= 16 else []

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        table = game.full_table()
        return Contribution(
            values=shapley_from_table(table), evaluations=game.evaluations, method=self.name
        )
