"""Truncated Monte Carlo Shapley (Ghorbani & Zou 2019, "Data Shapley", ICML).

Permutation sampling in which a walk stops evaluating once the prefix utility is within
``truncation * |u(N) - u(empty)|`` of the grand-coalition utility: the remaining players get
a marginal of 0. (The paper measures the tolerance relative to ``u(N)``; we measure it relative
to the total gain so a non-zero baseline, e.g. chance accuracy, does not distort it.) Sampling
stops when the mean relative change of the estimate over the last ``window`` permutations
is below ``convergence_tol`` (the paper's criterion), at ``max_permutations``, or when the budget
is spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import BudgetExhausted, Game
from market.scoring._walk import relative_change, walk
from market.scoring.base import Estimator
from market.scoring.permutation import summarise
from market.types import FloatArray


@dataclass(frozen=True)
class TMCShapley(Estimator):
    """Truncated Monte Carlo Shapley.

    Args:
        truncation: relative performance tolerance (fraction of ``|u(N) - u(empty)|``).
        convergence_tol: stop when the estimate moved less than this (relative L1) over the
            last ``window`` permutations; 0 disables.
        window: permutations between convergence checks.
        max_permutations: hard cap on permutations.

    Minimum budget: ``n + 1``.
    """

    name: ClassVar[str] = "tmc"
    truncation: float = 0.01
    convergence_tol: float = 0.01
    window: int = 20
    max_permutations: int = 2000

    def __post_init__(self) -> None:
        if not 0.0 <= self.truncation < 1.0:
            raise ValueError(f"truncation must be in [0, 1), got {self.truncation}")
        if self.convergence_tol < 0:
            raise ValueError(f"convergence_tol must be >= 0, got {self.convergence_tol}")
        if self.window < 1 or self.max_permutations < 1:
            raise ValueError("window and max_permutations must be >= 1")

    def minimum_budget(self, n_players: int) -> int:
        """One full permutation: the empty coalition plus ``n`` prefixes."""
        return n_players + 1

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        v_empty = game.value(0)
        v_grand = game.value(game.grand)
        threshold = self.truncation * abs(v_grand - v_empty)
        samples: list[FloatArray] = []
        checkpoint = np.zeros(n)
        converged = False
        while len(samples) < self.max_permutations:
            order = rng.permutation(n)
            try:
                samples.append(walk(game, order, v_empty, v_grand=v_grand, truncation=threshold))
            except BudgetExhausted:
                break
            if self.convergence_tol > 0 and len(samples) % self.window == 0:
                current = np.mean(samples, axis=0)
                if len(samples) > self.window and (
                    relative_change(current, checkpoint) < self.convergence_tol
                ):
                    converged = True
                    break
                checkpoint = current
        values, stderr = summarise(samples, n)
        return Contribution(
            values=values,
            evaluations=game.evaluations,
            method=self.name,
            converged=converged,
            stderr=stderr,
            info={"permutations": len(samples)},
        )
