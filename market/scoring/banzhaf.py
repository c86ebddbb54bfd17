"""Banzhaf value with the Maximum Sample Reuse estimator (Wang & Jia 2023, "Data Banzhaf: A
robust data valuation framework for machine learning", AISTATS).

Coalitions are drawn uniformly (each player present with probability 1/2); every sample is
reused for every player: ``phi_i = mean{u(S): i in S} - mean{u(S): i not in S}``. Repeated draws
are free (memoised) and still count as samples. A player never seen on one side scores 0 with an
infinite standard error. ``converged`` follows the rule of :mod:`market.scoring._walk`
(relative standard error at most ``tolerance``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game, mask_of_bits
from market.scoring._walk import relative_stderr
from market.scoring.base import Estimator


@dataclass(frozen=True)
class MSRBanzhaf(Estimator):
    """MSR Banzhaf estimator.

    Args:
        max_samples_per_evaluation: cap on draws as a multiple of the budget (draws of cached
            coalitions are free, so this bounds the loop for small ``n``).
        tolerance: relative standard error at which the estimate is reported converged.

    Minimum budget: 2.
    """

    name: ClassVar[str] = "banzhaf"
    index: ClassVar[str] = "banzhaf"
    max_samples_per_evaluation: int = 20
    tolerance: float = 0.02

    def __post_init__(self) -> None:
        if self.max_samples_per_evaluation < 1:
            raise ValueError(
                f"max_samples_per_evaluation must be >= 1, got {self.max_samples_per_evaluation}"
            )

    def minimum_budget(self, n_players: int) -> int:
        """Two distinct coalitions."""
        return 2

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        rows: list[np.ndarray] = []
        masks: list[int] = []
        new: set[int] = set()
        for _ in range(self.max_samples_per_evaluation * max(game.budget, 1)):
            bits = rng.integers(0, 2, size=n, dtype=np.int64).astype(bool)
            mask = mask_of_bits(bits)
            if not (mask in new or game.is_cached(mask)):
                if len(new) >= game.remaining:
                    break  # the first draw the budget cannot pay for ends the sampling
                new.add(mask)
            rows.append(bits)
            masks.append(mask)
        values = game.values_many(masks)  # the new draws evaluated as one batch
        member = np.array(rows, dtype=bool).reshape(len(rows), n)
        y = np.array(values, dtype=np.float64)
        n_in = member.sum(axis=0)
        n_out = len(y) - n_in
        estimate = np.zeros(n)
        stderr = np.full(n, np.inf)
        for i in range(n):
            if n_in[i] == 0 or n_out[i] == 0:
                continue
            inside, outside = y[member[:, i]], y[~member[:, i]]
            estimate[i] = inside.mean() - outside.mean()
            if n_in[i] > 1 and n_out[i] > 1:
                stderr[i] = np.sqrt(inside.var(ddof=1) / n_in[i] + outside.var(ddof=1) / n_out[i])
        return Contribution(
            values=estimate,
            evaluations=game.evaluations,
            method=self.name,
            index=self.index,
            converged=relative_stderr(estimate, stderr) <= self.tolerance,
            stderr=stderr,
            info={"samples": len(y), "tolerance": self.tolerance},
        )
