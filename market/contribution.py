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
        converged: the estimate meets its stated tolerance. The rule, for every method:
            exact methods (``stderr`` all 0) are converged; a sampled estimate is converged
            when its relative standard error :attr:`relative_stderr` is at most the
            method's ``tolerance`` (``info["tolerance"]``) after at least its
            ``min_samples`` samples, and no biased shortcut (truncation, a skipped round)
            was taken; an estimate without a standard error (a surrogate imputation,
            ``stderr`` inf) is never converged.
        stderr: per-player standard error, shape ``(n_players,)``: 0 for an exact value,
            ``inf`` where the method has no estimate of its error. Omitted means exact.
        info: method-specific diagnostics (e.g. the surrogate family chosen).
    """

    values: FloatArray
    evaluations: int
    method: str
    index: str = "shapley"
    converged: bool = True
    stderr: FloatArray = field(default_factory=lambda: np.zeros(0))
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
        stderr = np.asarray(self.stderr, dtype=np.float64)
        if stderr.size == 0:
            stderr = np.zeros_like(values)
        if stderr.shape != values.shape:
            raise ValueError(f"stderr must have shape {values.shape}, got {stderr.shape}")
        if np.any(np.isnan(stderr)) or np.any(stderr < 0):
            raise ValueError("stderr must be >= 0 (inf for unknown), got NaN or a negative")
        object.__setattr__(self, "stderr", stderr)

    @property
    def relative_stderr(self) -> float:
        """``sqrt(sum stderr**2) / ||values||_2``: the standard error of the relative L2 error
        (0 when both are 0, ``inf`` when the values are 0 but the errors are not)."""
        spread = float(np.sqrt(np.sum(self.stderr**2)))
        scale = float(np.linalg.norm(self.values))
        if spread == 0.0:
            return 0.0
        return spread / scale if scale > 0 else float("inf")

    @property
    def n_players(self) -> int:
        """Number of players scored."""
        return int(self.values.shape[0])
