"""What a study report says about each metric: names, units, scales, and the sentences.

:class:`Metric` says how a summary metric is named, scaled and compared; :func:`comparison`
turns a ranking (:func:`agents.intervals.rank_mechanisms`) into a sentence computed from the
numbers (the best mechanism, and which differences to it are significant, paired by seed,
and which are inside the noise); :func:`type_gaps` measures how much more often one
participant type joins than another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agents import economics
from agents.intervals import mean_interval, verdict

if TYPE_CHECKING:
    import pandas as pd

TYPE_ATTRIBUTES = tuple(economics.TYPE_ATTRIBUTES)
"""The participant type attributes (``data_size``, ``quality``, ``compute``)."""


@dataclass(frozen=True)
class Metric:
    """How a summary metric is named, scaled and compared in the report.

    Attributes:
        column: its column in the ``runs`` table.
        name: its name in a sentence.
        axis: its axis label, with units.
        scale: display factor (100 shows a share as a percentage).
        unit: suffix of a displayed value; ``diff_unit``: of a displayed difference.
        digits: decimals shown.
        higher_is_better: whether the best mechanism has the highest mean.
    """

    column: str
    name: str
    axis: str
    scale: float = 1.0
    unit: str = ""
    diff_unit: str = ""
    digits: int = 3
    higher_is_better: bool = True
    bounds: tuple[float, float] = (-np.inf, np.inf)

    def number(self, x: float) -> str:
        """``x`` scaled and rounded (no ``-0.0``)."""
        text = f"{x * self.scale:.{self.digits}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text

    def clip(self, low: float, high: float) -> tuple[float, float]:
        """An interval cut to the metric's range (a t-interval over few seeds can leave it)."""
        return max(low, self.bounds[0]), min(high, self.bounds[1])

    def value(self, x: float) -> str:
        return "n/a" if not np.isfinite(x) else f"{self.number(x)}{self.unit}"

    def interval(self, mean: float, low: float, high: float) -> str:
        """``mean [low, high]`` of a value, the interval cut to the metric's range."""
        if not np.isfinite(low):
            return f"{self.value(mean)} (no interval: one seed)"
        low, high = self.clip(low, high)
        return f"{self.value(mean)} [{self.number(low)}, {self.number(high)}]"

    def gap(self, mean: float, low: float, high: float) -> str:
        """``difference [low, high]`` of a difference (not clipped)."""
        text = f"{self.number(mean)}{self.diff_unit}"
        return text if not np.isfinite(low) else f"{text} [{self.number(low)}, {self.number(high)}]"


def percent(column: str, name: str, axis: str, *, higher_is_better: bool = True) -> Metric:
    """A share shown as a percentage, differences in percentage points."""
    return Metric(column, name, axis, 100.0, "%", " points", 1, higher_is_better, (0.0, 1.0))


ACCURACY = percent("final_test_accuracy", "final test accuracy", "final test accuracy (%)")
PAID = Metric(
    "total_paid",
    "total budget paid",
    "total budget paid over the run (budget units)",
    unit=" budget units",
    diff_unit=" budget units",
    digits=1,
    higher_is_better=False,
    bounds=(0.0, np.inf),
)
PARTICIPATION = percent(
    "mean_participation", "mean participation", "identities that joined, mean over rounds (%)"
)
PEARSON = Metric(
    "fair_pearson",
    "Pearson correlation of pay and contribution",
    "Pearson correlation of pay and contribution (unitless, -1 to 1)",
    digits=2,
    bounds=(-1.0, 1.0),
)
SPEARMAN = Metric(
    "fair_spearman",
    "Spearman correlation of pay and contribution",
    "Spearman correlation of pay and contribution (unitless, -1 to 1)",
    digits=2,
    bounds=(-1.0, 1.0),
)
IR = percent(
    "ir_rate_honest",
    "share of honest contributors paid at least their cost",
    "honest contributors paid at least their cost (%)",
)
EXPLOIT = percent(
    "non_honest_reward_share",
    "share of the budget paid to non-honest strategies",
    "budget paid to non-honest identities (% of the run's budget)",
    higher_is_better=False,
)
APPENDIX = (
    ACCURACY,
    Metric(
        "accuracy_gain",
        "accuracy gain",
        "test accuracy gain over the initial model (percentage points)",
        scale=100.0,
        unit=" points",
        diff_unit=" points",
        digits=1,
    ),
    PAID,
    Metric(
        "platform_utility",
        "accuracy gain per budget unit",
        "test accuracy gain per budget unit paid (percentage points)",
        scale=100.0,
        diff_unit=" points",
        digits=3,
    ),
    Metric("social_welfare", "social welfare", "social welfare (budget units)", digits=1),
    Metric(
        "participant_surplus",
        "participants' surplus",
        "participants' surplus (budget units)",
        digits=1,
    ),
    PARTICIPATION,
    IR,
    PEARSON,
    SPEARMAN,
    Metric(
        "fair_jain",
        "Jain index of pay",
        "Jain index of pay (unitless, 0 to 1)",
        digits=2,
        bounds=(0.0, 1.0),
    ),
    Metric(
        "fair_gini",
        "Gini index of pay",
        "Gini index of pay (unitless, 0 to 1)",
        digits=2,
        bounds=(0.0, 1.0),
    ),
    EXPLOIT,
)
"""Every metric the report's last table shows, where the runs have it."""


# ----- numbers -----
def with_exploitation(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` plus ``non_honest_reward_share``: the summed ``reward_share_<s>`` of the
    strategies other than honest (a strategy a run does not have was paid nothing)."""
    columns = non_honest_columns(runs)
    if not columns:
        return runs
    return runs.assign(**{EXPLOIT.column: runs[columns].fillna(0.0).sum(axis=1)})


def non_honest_columns(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs if c.startswith("reward_share_") and c != "reward_share_honest"]


def present(runs: pd.DataFrame, metric: Metric) -> bool:
    """Whether ``runs`` has the metric with at least one finite value."""
    return metric.column in runs and bool(np.isfinite(runs[metric.column].astype(float)).any())


def comparison(ranking: pd.DataFrame, metric: Metric, setting: str) -> str:
    """One sentence on a setting's ranking: the best mechanism, its mean and interval, and
    which differences to it are significant (paired by seed) and which are inside the noise."""
    rows = ranking[ranking["setting"] == setting].sort_values("rank")
    if rows.empty or not np.isfinite(rows["mean"].iloc[0]):
        return f"In *{setting}*, no run reports the {metric.name}."
    best = rows.iloc[0]
    extreme = "highest" if metric.higher_is_better else "lowest"
    value = metric.interval(best["mean"], best["ci_low"], best["ci_high"])
    same = (rows["difference"].abs() < 1e-12) & (rows["diff_low"].abs() < 1e-12)
    same &= rows["diff_high"].abs() < 1e-12
    if len(rows) > 1 and same.all():
        return (
            f"In *{setting}*, every mechanism gives the same {metric.name} in every seed: {value}."
        )
    text = f"In *{setting}*, **{best['mechanism']}** has the {extreme} {metric.name}, {value}."
    tied = list(rows.loc[same, "mechanism"].iloc[1:])
    if tied:
        text += f" {', '.join(tied)} give{'s' if len(tied) == 1 else ''} the same in every seed."
    others = rows.iloc[1:][~same.iloc[1:].to_numpy()]
    if others.empty:
        return text
    runner = others.iloc[0]
    sign = -1.0 if metric.higher_is_better else 1.0  # the best one's lead, positive
    lo, hi = sorted((sign * runner["diff_low"], sign * runner["diff_high"]))
    lead = metric.gap(sign * runner["difference"], lo, hi)
    ahead = list(others.loc[others["verdict"] == "significant", "mechanism"])
    noise = list(others.loc[others["verdict"] != "significant", "mechanism"])
    if not noise:
        return (
            f"{text} Its lead is significant over every other mechanism (over the runner-up "
            f"{runner['mechanism']}: {lead}, paired by seed)."
        )
    if not ahead:
        return (
            f"{text} Its difference to every other mechanism is inside the noise (to the "
            f"runner-up {runner['mechanism']}: {lead}, paired by seed): none is better here."
        )
    return (
        f"{text} It is significantly ahead of {', '.join(ahead)}; its difference to "
        f"{', '.join(noise)} is inside the noise (to {runner['mechanism']}: {lead})."
    )


def type_gaps(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per setting, mechanism and type attribute: how much more often (in share of
    identities, averaged over rounds) the ``high`` level joins than the ``low`` one, paired
    within each run, with its t-interval over seeds."""
    import pandas as pd

    rows = []
    keys = ["setting", "mechanism", "seed"]
    per_run = rounds[rounds["round"] >= 1].groupby(keys, sort=False).mean(numeric_only=True)
    for attribute in TYPE_ATTRIBUTES:
        low, high = f"participation_{attribute}_low", f"participation_{attribute}_high"
        if low not in per_run or high not in per_run:
            continue
        gaps = (per_run[high] - per_run[low]).dropna()
        for (setting, mechanism), values in gaps.groupby(level=[0, 1], sort=False):
            mean, lo, hi = mean_interval(values.to_numpy())
            rows.append(
                {
                    "setting": setting,
                    "mechanism": mechanism,
                    "attribute": attribute,
                    "gap": mean,
                    "gap_low": lo,
                    "gap_high": hi,
                }
            )
    return pd.DataFrame(
        rows, columns=["setting", "mechanism", "attribute", "gap", "gap_low", "gap_high"]
    )


def gap_sentence(gaps: pd.DataFrame, setting: str) -> str:
    """One sentence per setting: for each type attribute, the mechanism with the widest gap
    between its high and low level, and whether that gap is significant."""
    parts = []
    for attribute, rows in gaps[gaps["setting"] == setting].groupby("attribute", sort=False):
        widest = rows.loc[rows["gap"].abs().idxmax()]
        gap, low, high = widest["gap"], widest["gap_low"], widest["gap_high"]
        name = attribute.replace("_", " ")
        if max(abs(gap), abs(np.nan_to_num(low)), abs(np.nan_to_num(high))) < 1e-12:
            parts.append(f"by {name}, high and low levels join equally often everywhere")
            continue
        more = "more" if gap >= 0 else "less"
        if gap < 0:
            gap, low, high = -gap, -high, -low
        word = verdict(low, high)
        parts.append(
            f"by {name}, the widest gap is under {widest['mechanism']}, "
            f"where the high level joins {PARTICIPATION.gap(gap, low, high)} {more} often than "
            f"the low level: {'significant' if word == 'significant' else 'inside the noise'}"
        )
    if not parts:
        return ""
    return f"In *{setting}*, " + "; ".join(parts) + "."


__all__ = [
    "ACCURACY",
    "APPENDIX",
    "EXPLOIT",
    "IR",
    "PAID",
    "PARTICIPATION",
    "PEARSON",
    "SPEARMAN",
    "TYPE_ATTRIBUTES",
    "Metric",
    "comparison",
    "gap_sentence",
    "non_honest_columns",
    "percent",
    "present",
    "type_gaps",
    "with_exploitation",
]
