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
import numpy.typing as npt

from market.contribution import Contribution
from market.game import Game, mask_of_bits
from market.scoring._walk import relative_stderr
from market.scoring.base import Estimator
from market.scoring.exact import banzhaf_from_table
from market.types import FloatArray


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
        estimate, stderr = _split_means(member, y)
        return Contribution(
            values=estimate,
            evaluations=game.evaluations,
            method=self.name,
            index=self.index,
            converged=relative_stderr(estimate, stderr) <= self.tolerance,
            stderr=stderr,
            info={"samples": len(y), "tolerance": self.tolerance},
        )


@dataclass(frozen=True)
class ExactFirstBanzhaf(Estimator):
    """Banzhaf values, exact from the full table when the budget covers all ``2**n``
    coalitions (and ``n <= 16``), else :class:`MSRBanzhaf` with the same budget.

    A mechanism that pays on Banzhaf values holds this as its valuation
    (:attr:`market.Mechanism.valuation`): small rounds are valued exactly at no extra cost.

    Minimum budget: 2.
    """

    name: ClassVar[str] = "banzhaf"
    index: ClassVar[str] = "banzhaf"
    max_exact_players: ClassVar[int] = 16

    def minimum_budget(self, n_players: int) -> int:
        """Two distinct coalitions (the sampled fallback's minimum)."""
        return 2

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        if n > self.max_exact_players or (1 << n) > game.budget:
            return MSRBanzhaf()._run(game, rng)
        table = game.values_many(range(1 << n))
        return Contribution(
            values=banzhaf_from_table(table),
            evaluations=game.evaluations,
            method=self.name,
            index=self.index,
        )


_ROWS_PER_BLOCK = 512
"""Samples per block of the membership products (bounds the float copy of the 0/1 matrix)."""


def _split_means(member: npt.NDArray[np.bool_], y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per player: mean of ``y`` over samples containing it minus mean over the rest, and the
    standard error of that difference (Welch); 0 and ``inf`` where a side is empty.

    Two matrix products over the samples instead of a loop over players (a 100,000-player
    round has ~19,000 of them); ``y`` is centred first so the sums of squares keep precision.
    """
    n_samples, n = member.shape
    centred = y - (y.mean() if n_samples else 0.0)
    n_in = member.sum(axis=0).astype(np.float64)
    n_out = n_samples - n_in
    sum_in, sq_in = np.zeros(n), np.zeros(n)
    for start in range(0, n_samples, _ROWS_PER_BLOCK):
        block = member[start : start + _ROWS_PER_BLOCK].astype(np.float64)
        part = centred[start : start + _ROWS_PER_BLOCK]
        sum_in += part @ block
        sq_in += (part * part) @ block
    sum_out, sq_out = centred.sum() - sum_in, float(centred @ centred) - sq_in
    seen = (n_in > 0) & (n_out > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_in, mean_out = sum_in / n_in, sum_out / n_out
        estimate = np.where(seen, mean_in - mean_out, 0.0)
        var_in = np.maximum(sq_in - n_in * mean_in**2, 0.0) / (n_in - 1)
        var_out = np.maximum(sq_out - n_out * mean_out**2, 0.0) / (n_out - 1)
        stderr = np.where(
            (n_in > 1) & (n_out > 1), np.sqrt(var_in / n_in + var_out / n_out), np.inf
        )
    return estimate, stderr
