"""Fairness and incentive metrics of a round's payments.

Degenerate inputs return ``NaN`` rather than raising: a correlation with a constant vector
(or fewer than two players), Jain's index and Gini of an all-zero vector, budget balance
with a zero budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from market.game import check_n_players, mask_of
from market.mechanisms.base import Mechanism
from market.scoring import estimate
from market.types import BoolArray, FloatArray, Utility, UtilityLike


def _vector(x: object, name: str) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a 1-D array of finite floats")
    return arr


def _pair(x: object, y: object) -> tuple[FloatArray, FloatArray]:
    a, b = _vector(x, "x"), _vector(y, "y")
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape, got {a.shape} and {b.shape}")
    return a, b


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
    return pearson(stats.rankdata(a), stats.rankdata(b))


def jain_index(x: object) -> float:
    """Jain's fairness index ``(sum x)^2 / (n sum x^2)`` in ``[1/n, 1]``; ``NaN`` if all 0."""
    a = _vector(x, "x")
    square = float(np.sum(a * a))
    if a.size == 0 or square == 0.0:
        return float("nan")
    return float(a.sum() ** 2 / (a.size * square))


def gini(x: object) -> float:
    """Gini coefficient of non-negative ``x`` (0 = equal); ``NaN`` if the sum is 0."""
    a = _vector(x, "x")
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
    mask = c > 0 if incurred is None else np.asarray(incurred, dtype=bool)
    if mask.shape != p.shape:
        raise ValueError(f"incurred must have shape {p.shape}")
    short = np.where(mask, c - p, 0.0)
    bad = short > 1e-12
    return IRViolations(count=int(bad.sum()), total=float(short[bad].sum()))


def free_rider_share(payments: object, free_riders: BoolArray, budget: float) -> float:
    """Fraction of the budget paid to ``free_riders``; ``NaN`` for a zero budget."""
    p = _vector(payments, "payments")
    mask = np.asarray(free_riders, dtype=bool)
    if mask.shape != p.shape:
        raise ValueError(f"free_riders must have shape {p.shape}")
    return float(p[mask].sum() / budget) if budget > 0 else float("nan")


def budget_balance(payments: object, budget: float) -> float:
    """Paid / budget (1 = fully spent, never above 1 for our mechanisms)."""
    p = _vector(payments, "payments")
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
    }
    if ground_truth is not None:
        truth = _vector(ground_truth, "ground_truth")
        out["pearson_truth"] = pearson(p, truth)
        out["spearman_truth"] = spearman(p, truth)
    if costs is not None:
        ir = ir_violations(p, costs, incurred=incurred)
        out["ir_violations"] = float(ir.count)
        out["ir_shortfall"] = ir.total
    return out


@dataclass(frozen=True)
class SybilResult:
    """Outcome of splitting one participant into ``k`` identities.

    Attributes:
        original: payment of the participant acting alone.
        clones: total payment of its ``k`` identities.
        gain: ``clones - original`` (> 0: splitting pays).
        k: number of identities.
    """

    original: float
    clones: float
    gain: float
    k: int


def replicate(utility: UtilityLike, n_players: int, player: int, k: int) -> Utility:
    """Utility of the game where ``player`` has ``k - 1`` exact copies ``n .. n+k-2``.

    A coalition is worth what the original game gives it with every copy mapped back to
    ``player`` (copies bring the same data, so they add nothing to one another).
    """
    table = None if callable(utility) else np.asarray(utility, dtype=np.float64)

    def cloned(coalition: frozenset[int]) -> float:
        mapped = frozenset(player if i >= n_players else i for i in coalition)
        if table is not None:
            return float(table[mask_of(mapped)])
        assert callable(utility)  # narrowed: table is None only for callables
        return float(utility(mapped))

    return cloned


def sybil_gain(
    utility: UtilityLike,
    n_players: int,
    player: int,
    k: int,
    mechanism: Mechanism,
    *,
    budget: float,
    method: str = "exact",
    cloned_utility: UtilityLike | None = None,
    costs: FloatArray | None = None,
    estimator_budget: int | None = None,
    rng: np.random.Generator | None = None,
) -> SybilResult:
    """Reward of ``k`` identities of ``player`` minus its reward as one identity.

    Contributions are scored with ``method`` on the original game and on the game with the
    identities (``cloned_utility``, whose extra players are ``n .. n+k-2``; default
    :func:`replicate`), then paid by ``mechanism`` with the same ``budget``. Each identity
    bears the original's cost.
    """
    check_n_players(n_players)
    if not 0 <= player < n_players or k < 1:
        raise ValueError(f"player must be in [0, {n_players}) and k >= 1")
    rng = np.random.default_rng(0) if rng is None else rng
    rng_a, rng_b = rng.spawn(2)
    game_b = replicate(utility, n_players, player, k) if cloned_utility is None else cloned_utility
    n_b = n_players + k - 1
    cost_a = cost_b = None
    if costs is not None:
        cost_a = _vector(costs, "costs")
        cost_b = np.concatenate([cost_a, np.full(k - 1, cost_a[player])])
    phi_a = estimate(utility, n_players, method, budget=estimator_budget, rng=rng_a).values
    phi_b = estimate(game_b, n_b, method, budget=estimator_budget, rng=rng_b).values
    pay_a = mechanism.allocate(phi_a, budget=budget, costs=cost_a).payments
    pay_b = mechanism.allocate(phi_b, budget=budget, costs=cost_b).payments
    identities = [player, *range(n_players, n_b)]
    original, clones = float(pay_a[player]), float(pay_b[identities].sum())
    if not (math.isfinite(original) and math.isfinite(clones)):
        raise ValueError("payments must be finite")
    return SybilResult(original=original, clones=clones, gain=clones - original, k=k)
