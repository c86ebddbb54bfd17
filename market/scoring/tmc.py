"""Truncated Monte Carlo Shapley (Ghorbani & Zou 2019, "Data Shapley", ICML).

Permutation sampling in which a walk stops evaluating once the prefix utility is within
``truncation * |u(N) - u(empty)|`` of the grand-coalition utility: the remaining players get
a marginal of 0. (The paper measures the tolerance relative to ``u(N)``; we measure it relative
to the total gain so a non-zero baseline, e.g. chance accuracy, does not distort it.)

**Biased**: a player after the truncation point scores 0 in that walk, so a harmful player
that follows helpful ones is hidden (additive game ``A=+1, B=+0.5, P=-0.5``: ``P`` gets about
``-0.33`` instead of ``-0.5``); ``bench/early_stopping.py`` measures the bias. A run in which
truncation fired is never reported ``converged``. Not a default; ``truncation=0`` makes it plain
(unbiased) permutation sampling. Stopping rule: :mod:`market.scoring._walk` (the paper's
"mean relative change" rule reported convergence at 5-28% error and is gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game
from market.scoring._walk import (
    check_sampling_options,
    check_truncation,
    contribution_of,
    sample_walks,
)
from market.scoring.base import WalkEstimator


@dataclass(frozen=True)
class TMCShapley(WalkEstimator):
    """Truncated Monte Carlo Shapley (biased when ``truncation > 0``).

    Args:
        truncation: relative performance tolerance (fraction of ``|u(N) - u(empty)|``).
        tolerance: stop once the relative standard error is at most this (0: never).
        min_samples: walks needed before the standard error is trusted.
        max_permutations: hard cap on permutations.

    Minimum budget: ``n + 1``.
    """

    name: ClassVar[str] = "tmc"
    truncation: float = 0.01
    tolerance: float = 0.02
    min_samples: int = 8
    max_permutations: int = 2000

    def __post_init__(self) -> None:
        check_truncation(self.truncation)
        check_sampling_options(self.tolerance, self.min_samples, self.max_permutations)

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        gain = abs(game.value(game.grand) - game.value(0))
        threshold = self.truncation * gain
        run = sample_walks(
            game,
            lambda r: [r.permutation(n).astype(np.int64)],
            rng,
            max_walks=self.max_permutations,
            tolerance=self.tolerance,
            min_samples=self.min_samples,
            truncation=threshold,
        )
        return contribution_of(game, run, self.name, self.tolerance)
