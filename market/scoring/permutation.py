"""Permutation sampling with antithetic pairs (Castro et al. 2009; Mitchell et al. 2022).

Each sample is a random order of the players; a player's marginal contribution to the prefix
before it is an unbiased sample of its Shapley value. With ``antithetic=True`` every order is
followed by its reverse and the pair average is one sample (Mitchell, Cooper, Frank & Holmes
2022, "Sampling permutations for Shapley value estimation", JMLR 23). Every complete
permutation satisfies efficiency, so the estimate sums to ``u(N) - u(empty)``; a null player's
marginals are all exactly 0, so it scores exactly 0. Stopping rule and standard errors:
:mod:`market.scoring._walk`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game
from market.scoring._walk import (
    check_sampling_options,
    contribution_of,
    sample_walks,
)
from market.scoring.base import WalkEstimator
from market.types import IntArray


@dataclass(frozen=True)
class PermutationShapley(WalkEstimator):
    """Monte Carlo permutation sampling of the Shapley value (unbiased).

    Args:
        antithetic: follow each permutation with its reverse (the pair is one sample).
        max_permutations: hard cap on permutations (cached coalitions are free).
        tolerance: stop, and report ``converged``, once the relative standard error is at
            most this (0: never stop early).
        min_samples: samples needed before the standard error is trusted.

    Minimum budget: ``n + 1`` (one complete permutation).
    """

    name: ClassVar[str] = "permutation"
    antithetic: bool = True
    max_permutations: int = 2000
    tolerance: float = 0.02
    min_samples: int = 8

    def __post_init__(self) -> None:
        check_sampling_options(self.tolerance, self.min_samples, self.max_permutations)

    def _orders(self, rng: np.random.Generator, n: int) -> list[IntArray]:
        order = rng.permutation(n).astype(np.int64)
        return [order, order[::-1].copy()] if self.antithetic else [order]

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        run = sample_walks(
            game,
            lambda r: self._orders(r, n),
            rng,
            max_walks=self.max_permutations,
            tolerance=self.tolerance,
            min_samples=self.min_samples,
        )
        return contribution_of(game, run, self.name, self.tolerance)
