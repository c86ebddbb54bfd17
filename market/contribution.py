"""The result every scoring method returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from market.types import FloatArray

INDICES = ("shapley", "banzhaf", "loo", "cosine")
"""What a :class:`Contribution` estimates: the Shapley value, the Banzhaf value, the
leave-one-out marginal ``u(N) - u(N - i)``, or a cosine similarity score."""


@dataclass(frozen=True, eq=False)
class Contribution:
    """Per-player contribution scores for one round.

    Attributes:
        values: score of each player, shape ``(n_players,)``.
        evaluations: distinct utility evaluations used (empty and grand coalitions included).
        method: name of the method in :data:`market.METHODS`.
        index: what is estimated, one of :data:`INDICES`.
        converged: the method stopped by its own convergence rule (or is exact), not by the
            budget.
        stderr: per-player standard error of a Monte Carlo estimate, else ``None``.
        info: method-specific diagnostics (e.g. the surrogate family chosen).
    """

    values: FloatArray
    evaluations: int
    method: str
    index: str = "shapley"
    converged: bool = True
    stderr: FloatArray | None = None
    info: Mapping[str, float | int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"values must be 1-D (n_players,), got shape {values.shape}")
        object.__setattr__(self, "values", values)
        if self.evaluations < 0:
            raise ValueError(f"evaluations must be >= 0, got {self.evaluations}")
        if self.index not in INDICES:
            raise ValueError(f"index must be one of {INDICES}, got {self.index!r}")
        if self.stderr is not None:
            stderr = np.asarray(self.stderr, dtype=np.float64)
            if stderr.shape != values.shape:
                raise ValueError(f"stderr must have shape {values.shape}, got {stderr.shape}")
            object.__setattr__(self, "stderr", stderr)

    @property
    def n_players(self) -> int:
        """Number of players scored."""
        return int(self.values.shape[0])
