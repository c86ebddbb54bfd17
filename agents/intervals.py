"""Intervals over seeds, and mechanisms ranked with them (pure numpy/scipy/pandas).

* :func:`mean_interval`: the mean of a metric over seeds and its two-sided Student-t interval.
* :func:`paired_difference`: the mean of per-seed differences ``a - b`` (same seed, same data)
  and its t-interval; a difference whose interval holds 0 is inside the noise.
* :func:`rank_mechanisms`: per setting, mechanisms ranked by the mean of a metric, each with
  its difference to the best and whether that difference is significant.

Non-finite values are dropped (a metric that is undefined for a run, e.g. a correlation with
a constant vector); with fewer than two values there is no spread and the interval is NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

LEVEL = 0.95
NONE = "none (inside the noise)"
"""The verdict on a difference whose interval holds 0."""

RANK_COLUMNS = (
    "setting",
    "rank",
    "mechanism",
    "mean",
    "ci_low",
    "ci_high",
    "seeds",
    "difference",
    "diff_low",
    "diff_high",
    "verdict",
)


def mean_interval(values: Any, level: float = LEVEL) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of the finite ``values`` and its t-interval."""
    from scipy import stats

    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    if data.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(data.mean())
    if data.size < 2:
        return mean, float("nan"), float("nan")
    half = float(
        stats.t.ppf(0.5 + level / 2, data.size - 1) * data.std(ddof=1) / np.sqrt(data.size)
    )
    return mean, mean - half, mean + half


def paired_difference(a: Any, b: Any, level: float = LEVEL) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the per-pair differences ``a[i] - b[i]`` (pairs with a
    non-finite side dropped): the paired t-interval, which removes the spread that both
    sides share through the seed (data split, initial model)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} and {y.size}")
    return mean_interval(x - y, level)


def excludes_zero(low: float, high: float) -> bool:
    """Whether the interval ``[low, high]`` lies strictly on one side of 0 (NaN: no)."""
    return bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))


def verdict(low: float, high: float) -> str:
    """``"significant"`` when the interval of a difference excludes 0, else :data:`NONE`."""
    return "significant" if excludes_zero(low, high) else NONE


def rank_mechanisms(
    runs: pd.DataFrame,
    metric: str,
    *,
    higher_is_better: bool = True,
    level: float = LEVEL,
    settings: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per setting, the mechanisms ranked by the mean of ``metric`` over seeds.

    Args:
        runs: one row per run with columns ``mechanism``, ``setting``, ``seed`` and ``metric``.
        metric: the column to rank by.
        higher_is_better: ``False`` ranks the smallest mean first.
        level: the confidence level of every interval.
        settings: the settings to rank, in this order (default: as they first appear).

    Returns:
        One row per setting x mechanism (:data:`RANK_COLUMNS`): rank 1 is the best mean;
        ``difference`` is the mechanism's paired (by seed) mean difference to the best, with
        its interval, and ``verdict`` says ``"best"``, ``"significant"`` or :data:`NONE`.
    """
    import pandas as pd

    order = list(settings) if settings is not None else list(dict.fromkeys(runs["setting"]))
    rows: list[dict[str, Any]] = []
    for setting in order:
        frame = runs[runs["setting"] == setting]
        by_seed = frame.pivot_table(index="seed", columns="mechanism", values=metric, dropna=False)
        mechanisms = list(dict.fromkeys(frame["mechanism"]))  # ties keep the study's order
        stats = {
            m: mean_interval(frame.loc[frame["mechanism"] == m, metric], level) for m in mechanisms
        }
        sign = 1.0 if higher_is_better else -1.0
        ranked = sorted(
            (m for m in stats if np.isfinite(stats[m][0])), key=lambda m: -sign * stats[m][0]
        )
        ranked += [m for m in stats if m not in ranked]  # undefined metrics last
        best = ranked[0] if ranked else None
        for rank, mechanism in enumerate(ranked, start=1):
            mean, low, high = stats[mechanism]
            seeds = int(np.isfinite(frame.loc[frame["mechanism"] == mechanism, metric]).sum())
            if mechanism == best:
                diff, d_low, d_high, word = 0.0, 0.0, 0.0, "best"
            elif mechanism not in by_seed or best not in by_seed:  # no finite value at all
                diff, d_low, d_high, word = np.nan, np.nan, np.nan, NONE
            else:
                diff, d_low, d_high = paired_difference(
                    by_seed[mechanism].to_numpy(), by_seed[best].to_numpy(), level
                )
                word = verdict(d_low, d_high)
            rows.append(
                {
                    "setting": setting,
                    "rank": rank,
                    "mechanism": mechanism,
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "seeds": seeds,
                    "difference": diff,
                    "diff_low": d_low,
                    "diff_high": d_high,
                    "verdict": word,
                }
            )
    return pd.DataFrame(rows, columns=list(RANK_COLUMNS))
