"""The default scoring method: exact Shapley when the budget affords every coalition,
unbiased antithetic permutation sampling otherwise.

In head mode a coalition evaluation is a batched forward pass of a small head, so the
``2**n`` coalitions of a round with ``n <= 10`` fit in the default budget of 1024 and the
values are exact (Shapley 1953). Above that the budget goes to antithetic permutation
sampling (Castro et al. 2009; Mitchell et al. 2022), which keeps the axioms payments rest
on by construction: efficiency exactly (every complete permutation sums to
``u(N) - u(empty)``), a null player exactly 0 (all its marginals are 0), symmetric players
equal in expectation (the estimator is unbiased); it reports per-player standard errors and
``converged`` by the rule of :mod:`market.scoring._walk`. No truncation, no skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game
from market.scoring.base import Estimator, WalkEstimator, all_coalitions
from market.scoring.exact import ExactShapley
from market.scoring.permutation import PermutationShapley

DEFAULT_BUDGET = 1024
"""Default scoring budget: every coalition of up to 10 participants (exact values)."""


@dataclass(frozen=True)
class AdaptiveShapley(WalkEstimator):
    """Exact when ``2**n <= budget``, else antithetic permutation sampling.

    Args:
        tolerance: sampling stops, and reports ``converged``, once the relative standard
            error is at most this.
        min_samples: antithetic pairs needed before the standard error is trusted.
        max_permutations: hard cap on permutations.

    Minimum budget: ``n + 1``.
    """

    name: ClassVar[str] = "adaptive"
    tolerance: float = 0.02
    min_samples: int = 8
    max_permutations: int = 100_000

    def __post_init__(self) -> None:
        self._sampler()  # validates the options

    def _sampler(self) -> PermutationShapley:
        return PermutationShapley(
            antithetic=True,
            max_permutations=self.max_permutations,
            tolerance=self.tolerance,
            min_samples=self.min_samples,
        )

    def default_budget(self, n_players: int) -> int:
        """:data:`DEFAULT_BUDGET` (at least the minimum)."""
        return max(self.minimum_budget(n_players), DEFAULT_BUDGET)

    def planned_coalitions(self, n_players: int, budget: int) -> list[frozenset[int]]:
        """Every coalition when the budget affords them all (and ``n <= 16``), else the
        empty and grand coalitions."""
        if budget >= 1 << n_players and n_players <= 16:
            return all_coalitions(n_players)
        return super().planned_coalitions(n_players, budget)

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        inner: Estimator
        if game.budget >= 1 << game.n_players:
            inner = ExactShapley()
        else:
            inner = self._sampler()
        result = inner._run(game, rng)
        info = {**result.info, "inner": inner.name}
        return Contribution(
            values=result.values,
            evaluations=result.evaluations,
            method=self.name,
            converged=result.converged,
            stderr=result.stderr,
            info=info,
        )
