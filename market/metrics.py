"""Fairness and incentive metrics of a round's payments.

The Sybil and replication measurement (:func:`sybil_gain`, :func:`replicate`,
:func:`values_for`) lives in :mod:`market.sybil` and is re-exported here.

Degenerate inputs return ``NaN`` rather than raising: a correlation with a constant vector
(or fewer than two players), Jain's index and Gini of an all-zero vector, budget balance
with a zero budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.checks import finite_vector
from market.sybil import SybilResult, replicate, sybil_gain, sybil_gain_estimate, values_for
from market.types import BoolArray, FloatArray

__all__ = [
    "IRViolations",
    "SybilResult",
    "budget_balance",
    "fairness_summary",
    "free_rider_share",
    "gini",
    "ir_rate",
    "ir_violations",
    "jain_index",
    "pearson",
    "replicate",
    "spearman",
    "sybil_gain",
    "sybil_gain_estimate",
    "values_for",
]


def _pair(x: object, y: object) -> tuple[FloatArray, FloatArray]:
    a, b = finite_vector(x, "x"), finite_vector(y, "y")
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def _mask(values: object, like: FloatArray, name: str) -> BoolArray:
    mask = np.asarray(values, dtype=bool)
    if mask.shape != like.shape:
        raise ValueError(f"{name} must have shape {like.shape}")
    return mask


def pearson(x: object, y: object) -> float:
    """Pearson correlation; ``NaN`` if either vector is constant or shorter than 2."""
    a, b = _pair(x, y)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def spearman(x: object, y: object) -> float:
    """Spearman rank correlation (average ranks for ties); ``NaN`` when degenerate."""
    a, b = _pair(x, y)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    from scipy import stats  # imported here: `import market` stays light for the CLI

    return pearson(stats.rankdata(a), stats.rankdata(b))


def jain_index(x: object) -> float:
    """Jain's fairness index ``(sum x)^2 / (n sum x^2)`` in ``[1/n, 1]``; ``NaN`` if all 0."""
    a = finite_vector(x, "x")
    square = float(np.sum(a * a))
    if a.size == 0 or square == 0.0:
        return float("nan")
    return float(a.sum() ** 2 / (a.size * square))


def gini(x: object) -> float:
    """Gini coefficient of non-negative ``x`` (0 = equal); ``NaN`` if the sum is 0."""
    a = finite_vector(x, "x")
    if np.any(a < 0):
        raise ValueError("gini needs non-negative values")
    total = float(a.sum())
    if a.size == 0 or total == 0.0:
        return float("nan")
    ordered = np.sort(a)
    ranks = np.arange(1, a.size + 1)
    return float(np.sum((2 * ranks - a.size - 1) * ordered) / (a.size * total))


@dataclass(frozen=True)
class IRViolations:
    """Individual-rationality violations: participants paid less than their cost."""

    count: int
    total: float
    """Sum of shortfalls ``cost - payment`` over violators."""


def ir_violations(
    payments: object, costs: object, *, incurred: BoolArray | None = None
) -> IRViolations:
    """Count players with ``payment < cost`` among those who ``incurred`` their cost
    (default: everyone with a positive cost)."""
    p, c = _pair(payments, costs)
    mask = c > 0 if incurred is None else _mask(incurred, p, "incurred")
    short = np.where(mask, c - p, 0.0)
    bad = short > 1e-12
    return IRViolations(count=int(bad.sum()), total=float(short[bad].sum()))


def ir_rate(payments: object, costs: object, *, contributing: BoolArray) -> float:
    """Share of ``contributing`` participants paid at least their cost (``NaN`` if none).

    Pass one round's arrays, or a run's per-participant totals for the rate "over a run".
    """
    p, c = _pair(payments, costs)
    mask = _mask(contributing, p, "contributing")
    if not mask.any():
        return float("nan")
    return float(np.mean(p[mask] >= c[mask] - 1e-9 * np.maximum(1.0, np.abs(c[mask]))))


def free_rider_share(payments: object, free_riders: BoolArray, budget: float) -> float:
    """Fraction of the budget paid to ``free_riders``; ``NaN`` for a zero budget."""
    p = finite_vector(payments, "payments")
    mask = _mask(free_riders, p, "free_riders")
    return float(p[mask].sum() / budget) if budget > 0 else float("nan")


def budget_balance(payments: object, budget: float) -> float:
    """Paid / budget (1 = fully spent, never above 1 for our mechanisms)."""
    p = finite_vector(payments, "payments")
    return float(p.sum() / budget) if budget > 0 else float("nan")


def fairness_summary(
    payments: object,
    contributions: object,
    *,
    budget: float,
    costs: object | None = None,
    ground_truth: object | None = None,
    free_riders: BoolArray | None = None,
    incurred: BoolArray | None = None,
) -> dict[str, float]:
    """All metrics of one round as a flat ``dict[str, float]`` (NaN where undefined).

    Args:
        payments: payment per player.
        contributions: the scores the mechanism used.
        budget: the round budget.
        costs: per-player costs (enables ``ir_violations`` and ``ir_shortfall``).
        ground_truth: true contributions (enables ``pearson_truth`` and ``spearman_truth``).
        free_riders: mask of free riders (default: contribution <= 0).
        incurred: who incurred their cost (default: cost > 0).

    ``ir_rate`` is :func:`ir_rate` over positive contributors that are not free riders.
    """
    p, c = _pair(payments, contributions)
    riders = c <= 0 if free_riders is None else np.asarray(free_riders, dtype=bool)
    out = {
        "pearson": pearson(p, c),
        "spearman": spearman(p, c),
        "jain": jain_index(p),
        "gini": gini(p),
        "budget_balance": budget_balance(p, budget),
        "free_rider_share": free_rider_share(p, riders, budget),
        "pearson_truth": float("nan"),
        "spearman_truth": float("nan"),
        "ir_violations": float("nan"),
        "ir_shortfall": float("nan"),
        "ir_rate": float("nan"),
    }
    if ground_truth is not None:
        truth = finite_vector(ground_truth, "ground_truth")
        out["pearson_truth"] = pearson(p, truth)
        out["spearman_truth"] = spearman(p, truth)
    if costs is not None:
        ir = ir_violations(p, costs, incurred=incurred)
        out["ir_violations"] = float(ir.count)
        out["ir_shortfall"] = ir.total
        out["ir_rate"] = ir_rate(p, costs, contributing=(c > 0) & ~riders)
    return out
