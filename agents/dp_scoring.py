"""What DP noise adds to a valuation's uncertainty, measured by post-processing redraws.

Under differential privacy every coalition utility is computed from noised sums
(:mod:`agents.dp`), so a participant's value carries the noise of its round's shares besides
the valuation's sampling error. Its size is measured the way SIMEX does (Cook & Stefanski
1994, "Simulation-extrapolation estimation in parametric measurement error models"): the
scorer adds a *fresh* share of the same std to each released sum it holds -- post-processing,
so it spends no privacy and reads nothing new -- and values the round again on the *same*
sampled coalitions (the scoring stream is replayed), so the sampling error cancels. To first
order ``v(eta + xi) - v(eta)`` has the variance the shares ``eta`` put into ``v(eta)``; the
mean square over :data:`REDRAWS` redraws estimates it, and it is added to the sampling
variance of each value and of the round's gain.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np

from agents.dp import RoundNoise
from agents.secure_sum import CoalitionAggregate

REDRAWS = 2
"""Post-processing redraws per round (each values the round once more)."""

Valuate = Callable[
    [Sequence[np.ndarray] | None, CoalitionAggregate | None, np.random.Generator],
    tuple[np.ndarray, float],
]
"""``(deltas, aggregate, scoring rng) -> (values, gain)`` of one valuation of the round."""


def remembered(aggregate: CoalitionAggregate | None) -> CoalitionAggregate | None:
    """``aggregate`` with each coalition's released sum kept, so a redraw reuses it (a secure
    run is neither repeated nor released again)."""
    if aggregate is None:
        return None
    released: dict[frozenset[int], np.ndarray] = {}

    def again(coalition: frozenset[int]) -> np.ndarray:
        if coalition not in released:
            released[coalition] = aggregate(coalition)
        return released[coalition]

    return again


def noise_stderr(
    valuate: Valuate,
    deltas: Sequence[np.ndarray] | None,
    aggregate: CoalitionAggregate | None,
    *,
    noise: RoundNoise,
    pids: Sequence[int],
    weights: Sequence[float],
    scoring_rng: np.random.Generator,
    values: np.ndarray,
    gain: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """The standard error the noise shares put into each value and into the gain.

    ``deltas``/``aggregate`` are what the round was valued on (noised updates scaled to
    FedAvg, or the released coalition sums), ``scoring_rng`` the scoring stream *before* that
    valuation (copied, never advanced), ``values``/``gain`` its result; ``rng`` draws the
    fresh shares."""
    scale = max(weights)
    squares, gain_squares = np.zeros(len(pids)), 0.0
    for _ in range(REDRAWS):
        fresh = [rng.normal(0.0, noise.std, noise.shares[pid].shape) for pid in pids]
        if deltas is not None:
            moved = [
                (np.asarray(d, dtype=np.float64) + xi * (scale / w)).astype(np.float32)
                for d, xi, w in zip(deltas, fresh, weights, strict=True)
            ]
            redrawn, shifted = valuate(moved, None, copy.deepcopy(scoring_rng))
        else:
            assert aggregate is not None
            redrawn, shifted = valuate(
                None, _shifted(aggregate, fresh, weights, scale), copy.deepcopy(scoring_rng)
            )
        squares += (np.asarray(redrawn) - values) ** 2
        gain_squares += (shifted - gain) ** 2
    return np.sqrt(squares / REDRAWS), float(np.sqrt(gain_squares / REDRAWS))


def _shifted(
    aggregate: CoalitionAggregate,
    fresh: Sequence[np.ndarray],
    weights: Sequence[float],
    scale: float,
) -> CoalitionAggregate:
    """Each released coalition FedAvg plus its members' fresh shares, on the same scale."""

    def shifted(coalition: frozenset[int]) -> np.ndarray:
        members = sorted(coalition)
        base = np.asarray(aggregate(coalition), dtype=np.float64)
        if not members:
            return base.astype(np.float32)
        extra = (
            np.sum([fresh[i] for i in members], axis=0) * scale / sum(weights[i] for i in members)
        )
        return (base + extra).astype(np.float32)

    return shifted
