"""Permutation sampling with antithetic pairs (Castro et al. 2009; Mitchell et al. 2022).

Each sample is a random order of the players; a player's marginal contribution to the prefix
before it is an unbiased sample of its Shapley value. With ``antithetic=True`` every order is
followed by its reverse and the pair average is one sample (Mitchell, Cooper, Frank & Holmes
2022, "Sampling permutations for Shapley value estimation", JMLR 23). Every complete
permutation satisfies efficiency, so the estimate sums to ``u(N) - u(empty)``. A permutation cut
short by the budget is discarded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import BudgetExhausted, Game
from market.scoring._walk import walk
from market.scoring.base import Estimator
from market.types import FloatArray


def summarise(samples: list[FloatArray], n_players: int) -> tuple[FloatArray, FloatArray]:
    """Return the mean and the standard error of the per-sample marginal vectors."""
    if not samples:
        return np.zeros(n_players), np.full(n_players, np.nan)
    stacked = np.vstack(samples)
    mean: FloatArray = stacked.mean(axis=0)
    if len(samples) < 2:
        return mean, np.full(n_players, np.nan)
    stderr: FloatArray = stacked.std(axis=0, ddof=1) / np.sqrt(len(samples))
    return mean, stderr


@dataclass(frozen=True)
class PermutationShapley(Estimator):
    """Monte Carlo permutation sampling of the Shapley value.

    Args:
        antithetic: follow each permutation with its reverse.
        max_permutations: hard cap on permutations (cached coalitions are free).
        tolerance: stop once every player's standard error is at most this (0 disables).

    Minimum budget: ``n + 1`` (one complete permutation).
    """

    name: ClassVar[str] = "permutation"
    antithetic: bool = True
    max_permutations: int = 2000
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.max_permutations < 1:
            raise ValueError(f"max_permutations must be >= 1, got {self.max_permutations}")
        if self.tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")

    def minimum_budget(self, n_players: int) -> int:
        """One full permutation: the empty coalition plus ``n`` prefixes."""
        return n_players + 1

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        v_empty = game.value(0)
        samples: list[FloatArray] = []
        used = 0
        converged = False
        while used < self.max_permutations:
            order = rng.permutation(n)
            try:
                first = walk(game, order, v_empty)
            except BudgetExhausted:
                break
            used += 1
            if self.antithetic and used < self.max_permutations:
                try:
                    second = walk(game, order[::-1].copy(), v_empty)
                except BudgetExhausted:
                    samples.append(first)
                    break
                used += 1
                samples.append(0.5 * (first + second))
            else:
                samples.append(first)
            if self.tolerance > 0 and len(samples) >= 2:
                _, stderr = summarise(samples, n)
                if float(np.max(stderr)) <= self.tolerance:
                    converged = True
                    break
        values, stderr = summarise(samples, n)
        return Contribution(
            values=values,
            evaluations=game.evaluations,
            method=self.name,
            converged=converged,
            stderr=stderr,
            info={"permutations": used},
        )
