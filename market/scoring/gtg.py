"""GTG-Shapley (Liu, Chen, Yang, Zhou & Zhao 2022, "GTG-Shapley: Efficient and accurate
participant contribution evaluation in federated learning", ACM TIST 13(4)).

In federated learning ``u(empty)`` is the utility of the previous global model and ``u(N)`` that
of the new one. GTG-Shapley adds three rules to permutation sampling:

* **between-round skip**: if ``|u(N) - u(empty)| <= between_round_tol`` the round is not worth
  valuing and every player scores 0 (2 evaluations);
* **within-round truncation**: along a permutation, once the prefix utility is within
  ``truncation * |u(N) - u(empty)|`` of ``u(N)`` the remaining marginals are 0;
* **guided sampling**: permutations come in rounds of ``n``; in round ``k`` permutation ``i``
  puts player ``i`` first, the rest in random order, so every player gets the first slot
  (where marginals are largest) equally often;
* **convergence stop**: after each round the relative L1 change of the estimate is compared
  with ``convergence_tol``.
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
class GTGShapley(Estimator):
    """GTG-Shapley.

    Args:
        between_round_tol: skip the round when ``|u(N) - u(empty)|`` is at most this
            (absolute, in utility units).
        truncation: within-round truncation, a fraction of ``|u(N) - u(empty)|``.
        convergence_tol: stop after a guided round that moved the estimate less than this
            (relative L1); 0 disables.
        max_rounds: cap on guided rounds of ``n`` permutations each.

    Minimum budget: ``n + 1``.
    """

    name: ClassVar[str] = "gtg"
    between_round_tol: float = 1e-3
    truncation: float = 0.01
    convergence_tol: float = 0.01
    max_rounds: int = 200

    def __post_init__(self) -> None:
        if self.between_round_tol < 0:
            raise ValueError(f"between_round_tol must be >= 0, got {self.between_round_tol}")
        if not 0.0 <= self.truncation < 1.0:
            raise ValueError(f"truncation must be in [0, 1), got {self.truncation}")
        if self.convergence_tol < 0:
            raise ValueError(f"convergence_tol must be >= 0, got {self.convergence_tol}")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {self.max_rounds}")

    def minimum_budget(self, n_players: int) -> int:
        """One full permutation: the empty coalition plus ``n`` prefixes."""
        return n_players + 1

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        v_empty = game.value(0)
        v_grand = game.value(game.grand)
        if abs(v_grand - v_empty) <= self.between_round_tol:
            return Contribution(
                values=np.zeros(n),
                evaluations=game.evaluations,
                method=self.name,
                converged=True,
                info={"skipped": 1, "permutations": 0},
            )
        threshold = self.truncation * abs(v_grand - v_empty)
        samples: list[FloatArray] = []
        previous = np.zeros(n)
        converged = False
        exhausted = False
        for _ in range(self.max_rounds):
            for first in range(n):
                rest = rng.permutation(np.delete(np.arange(n), first))
                order = np.concatenate([[first], rest]).astype(np.int64)
                try:
                    samples.append(
                        walk(game, order, v_empty, v_grand=v_grand, truncation=threshold)
                    )
                except BudgetExhausted:
                    exhausted = True
                    break
            if exhausted:
                break
            current = np.mean(samples, axis=0)
            if self.convergence_tol > 0 and len(samples) > n:
                if relative_change(current, previous) < self.convergence_tol:
                    converged = True
                    break
            previous = current
        values, stderr = summarise(samples, n)
        return Contribution(
            values=values,
            evaluations=game.evaluations,
            method=self.name,
            converged=converged,
            stderr=stderr,
            info={"skipped": 0, "permutations": len(samples)},
        )
