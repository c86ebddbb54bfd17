"""GTG-Shapley (Liu, Chen, Yang, Zhou & Zhao 2022, "GTG-Shapley: Efficient and accurate
participant contribution evaluation in federated learning", ACM TIST 13(4)).

In federated learning ``u(empty)`` is the utility of the previous global model and ``u(N)`` that
of the new one. GTG-Shapley adds rules to permutation sampling:

* **guided sampling** (always on, unbiased): permutations come in rounds of ``n``; in a round
  permutation ``i`` puts player ``i`` first, the rest in random order, so every player gets
  the first slot (where marginals are largest) equally often. A round is one sample.
* **within-round truncation** (``truncation``, default 0.01; **biased**): along a permutation,
  once the prefix utility is within ``truncation * |u(N) - u(empty)|`` of ``u(N)`` the remaining
  marginals are 0. A run in which it fired is never reported ``converged``.
* **between-round skip** (``skip_tol``, default ``None`` = off; **biased**): if
  ``|u(N) - u(empty)| <= skip_tol`` every player scores 0 (2 evaluations). Off by default: a
  round with ``u(N) = u(empty)`` can still have values such as ``(.3, .3, -.6)``.

Stopping rule and standard errors: :mod:`market.scoring._walk`. ``bench/early_stopping.py``
measures the bias of the truncation and of the skip.
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
from market.types import IntArray


@dataclass(frozen=True)
class GTGShapley(WalkEstimator):
    """GTG-Shapley.

    Args:
        skip_tol: skip the round when ``|u(N) - u(empty)|`` is at most this (absolute, in
            utility units); ``None`` (default) never skips.
        truncation: within-round truncation, a fraction of ``|u(N) - u(empty)|``.
        tolerance: stop once the relative standard error is at most this (0: never).
        min_samples: guided rounds needed before the standard error is trusted.
        max_rounds: cap on guided rounds of ``n`` permutations each.

    Minimum budget: ``n + 1``.
    """

    name: ClassVar[str] = "gtg"
    skip_tol: float | None = None
    truncation: float = 0.01
    tolerance: float = 0.02
    min_samples: int = 4
    max_rounds: int = 200

    def __post_init__(self) -> None:
        if self.skip_tol is not None and not self.skip_tol >= 0:
            raise ValueError(f"skip_tol must be >= 0 or None, got {self.skip_tol}")
        check_truncation(self.truncation)
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {self.max_rounds}")
        check_sampling_options(self.tolerance, self.min_samples, self.max_rounds)

    @staticmethod
    def _round(rng: np.random.Generator, n: int) -> list[IntArray]:
        orders = []
        for first in range(n):
            rest = rng.permutation(np.delete(np.arange(n), first))
            orders.append(np.concatenate([[first], rest]).astype(np.int64))
        return orders

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        gain = abs(game.value(game.grand) - game.value(0))
        if self.skip_tol is not None and gain <= self.skip_tol:
            return Contribution(
                values=np.zeros(n),
                evaluations=game.evaluations,
                method=self.name,
                converged=False,
                stderr=np.full(n, np.inf),
                info={"skipped": 1, "permutations": 0},
            )
        run = sample_walks(
            game,
            lambda r: self._round(r, n),
            rng,
            max_walks=self.max_rounds * n,
            tolerance=self.tolerance,
            min_samples=self.min_samples,
            truncation=self.truncation * gain,
        )
        return contribution_of(game, run, self.name, self.tolerance, skipped=0)
