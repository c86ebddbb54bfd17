"""Gradient-free cosine contribution in the spirit of CGSV (Xu, Lyu, Ma, Miao, Foo & Low 2021,
"Gradient driven rewards to guarantee fairness in collaborative machine learning", NeurIPS).

CGSV approximates a participant's Shapley value by the cosine similarity between its
(normalised) update and the aggregate update. It needs no utility evaluations: it works on the
update vectors themselves, so ``evaluations`` is 0. The aggregate is the weighted mean of the
unit-normalised updates (weights default to equal; pass data sizes for FedAvg weighting).
A zero update scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game
from market.scoring.base import Estimator, ScoringData


def cosine_contribution(updates: object, weights: object | None = None) -> Contribution:
    """Score each participant by the cosine of its update with the aggregate update.

    Args:
        updates: array of shape ``(n_players, d)``, one flattened model update per row.
        weights: optional non-negative aggregation weights of shape ``(n_players,)``.

    Returns:
        A :class:`Contribution` with values in ``[-1, 1]``, ``evaluations=0`` and
        ``index="cosine"``.
    """
    u = np.asarray(updates, dtype=np.float64)
    if u.ndim != 2 or u.shape[0] < 1:
        raise ValueError(f"updates must have shape (n_players, d), got {u.shape}")
    if not np.all(np.isfinite(u)):
        raise ValueError("updates must be finite; found NaN or inf")
    n = u.shape[0]
    if weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError(f"weights must be finite, non-negative, shape ({n},)")
    norms = np.linalg.norm(u, axis=1)
    unit = np.divide(u, norms[:, None], out=np.zeros_like(u), where=norms[:, None] > 0)
    total = float(w.sum())
    aggregate = (w @ unit) / total if total > 0 else np.zeros(u.shape[1])
    agg_norm = float(np.linalg.norm(aggregate))
    values = unit @ aggregate / agg_norm if agg_norm > 0 else np.zeros(n)
    return Contribution(
        values=np.clip(values, -1.0, 1.0), evaluations=0, method="cgsv", index="cosine"
    )


@dataclass(frozen=True, eq=False)
class CosineScore(Estimator):
    """:func:`cosine_contribution` behind the common interface: it reads the update vectors
    (``needs = {"updates"}``), never the utility.

    Minimum budget: 0.
    """

    name: ClassVar[str] = "cgsv"
    index: ClassVar[str] = "cosine"
    needs: ClassVar[frozenset[str]] = frozenset({"updates"})

    def minimum_budget(self, n_players: int) -> int:
        """No utility evaluations."""
        return 0

    def default_budget(self, n_players: int) -> int:
        """No utility evaluations."""
        return 0

    def _estimate(
        self, data: ScoringData, budget: int | None, rng: np.random.Generator
    ) -> Contribution:
        """Score from ``data.updates`` (``(n_players, d)``, required) and the optional
        ``data.weights``; the utility, ``budget`` and ``rng`` are not used."""
        if data.updates is None:
            raise ValueError("method 'cgsv' needs updates=<array (n_players, d)>")
        result = cosine_contribution(data.updates, data.weights)
        if result.n_players != data.n_players:
            raise ValueError(
                f"updates has {result.n_players} rows but n_players={data.n_players}; "
                "they must match"
            )
        return result

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        raise ValueError("method 'cgsv' scores update vectors: call estimate(..., updates=...)")
