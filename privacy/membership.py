"""Membership inference: how well an attacker tells training examples from others.

An empirical privacy audit of a released model (what differential privacy is meant to bound):
the attack's AUC and its true-positive rate at a low false-positive rate, the metric
Carlini et al. argue for ("Membership Inference Attacks From First Principles", IEEE S&P
2022), since an attack that is right on a few examples with certainty matters even when its
average accuracy is near chance.

Threat model: the attacker sees the released final model (its per-example losses and
true-label confidences, black box) and holds a pool of records from the population, some of
which were training members; it knows the training procedure (data per client, local
training settings, rounds), so it can train shadow models on random halves of that pool. It
never sees individual updates, the participants' shards, or the training randomness.

Two attacks, both pure numpy/scipy on per-example numbers the caller computes:

* ``loss_threshold`` (Yeom et al., "Privacy Risk in Machine Learning: Analyzing the
  Connection to Overfitting", CSF 2018): score = -loss; a member has a lower loss.
* ``lira`` (Carlini et al. 2022, the Likelihood Ratio Attack): per example, Gaussians fitted
  to the shadow models' logit-scaled confidences ``phi = log(p / (1 - p))`` of the true label
  when the example was IN their training data and when it was OUT; the score is the
  likelihood ratio of the target's ``phi`` (online, :func:`lira_scores`), or, with OUT
  shadows only (offline), the one-sided ``P(Z <= phi)`` under the OUT Gaussian.

Scores are "higher means member". :func:`audit` turns member and non-member scores into a
:class:`MembershipAudit` (AUC with a stratified-bootstrap interval, TPR at each FPR).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

LOSS_FLOOR = 1e-16
"""Smallest cross-entropy :func:`scaled_confidence` uses: float rounding makes the loss of a
very confident prediction exactly 0 (``phi = inf``); the floor caps ``phi`` at about 36.8."""

MIN_STD = 1e-3
"""Smallest standard deviation of a LiRA Gaussian (a shadow set whose ``phi`` never varies,
e.g. models that never trained, would otherwise divide by zero)."""

DEFAULT_FPRS = (0.01, 0.1)
"""The false-positive rates :func:`audit` reports a TPR at."""

GLOBAL_VARIANCE_BELOW = 64
"""With fewer shadows than this, :func:`lira_scores` pools the variance over examples (as
Carlini et al. do for small shadow sets: per-example variances of a few samples are noise)."""

COLUMNS = ("attack", "variant", "auc", "auc_ci_low", "auc_ci_high")


@dataclass(frozen=True)
class MembershipAudit:
    """One attack's result on one model.

    Attributes:
        attack: its name (``"loss_threshold"``, ``"lira"``).
        auc: area under the ROC curve (0.5: chance; ties count one half).
        tpr_at_fpr: true-positive rate at each target false-positive rate (FPR <= target).
        n_members, n_nonmembers: how many scores of each kind it was computed on.
        auc_ci_low, auc_ci_high: a 95% interval of the AUC (``nan``: not computed).
        variant: the attack's flavour (LiRA: ``"online"`` or ``"offline"``; ``""``: none).
    """

    attack: str
    auc: float
    tpr_at_fpr: Mapping[float, float]
    n_members: int
    n_nonmembers: int
    auc_ci_low: float = math.nan
    auc_ci_high: float = math.nan
    variant: str = ""

    def row(self) -> dict[str, Any]:
        """One flat table row: ``attack``, ``variant``, ``auc``, the interval, one
        ``tpr_at_fpr_<fpr>`` column per rate, ``n_members``, ``n_nonmembers``."""
        out: dict[str, Any] = {
            "attack": self.attack,
            "variant": self.variant,
            "auc": self.auc,
            "auc_ci_low": self.auc_ci_low,
            "auc_ci_high": self.auc_ci_high,
        }
        for fpr, tpr in sorted(self.tpr_at_fpr.items()):
            out[f"tpr_at_fpr_{fpr:g}"] = tpr
        out["n_members"] = self.n_members
        out["n_nonmembers"] = self.n_nonmembers
        return out

    def to_frame(self) -> pd.DataFrame:
        """This result as a one-row DataFrame (see :meth:`row`)."""
        return to_frame([self])


def to_frame(audits: Iterable[MembershipAudit]) -> pd.DataFrame:
    """One row per audit (:meth:`MembershipAudit.row`), in order."""
    rows = [a.row() for a in audits]
    if not rows:
        return pd.DataFrame(columns=[*COLUMNS, "n_members", "n_nonmembers"])
    return pd.DataFrame(rows)


def _scores(name: str, values: Sequence[float] | np.ndarray, *, finite: bool = True) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name}: give a non-empty 1-D array of scores")
    if np.isnan(array).any() or (finite and not np.isfinite(array).all()):
        raise ValueError(f"{name}: scores must be finite numbers")
    return array


def auc(members: Sequence[float] | np.ndarray, nonmembers: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve of "score above threshold means member".

    The Mann-Whitney statistic ``P(member > non-member) + P(equal) / 2``, computed from the
    midranks of the pooled scores (ties get their average rank), O(n log n).

    Raises:
        ValueError: an empty or non-finite score array (one line naming it).
    """
    m = _scores("members", members, finite=False)
    n = _scores("nonmembers", nonmembers, finite=False)
    ranks = stats.rankdata(np.concatenate([m, n]))  # "average": ties share their midrank
    rank_sum = float(ranks[: len(m)].sum())
    u = rank_sum - len(m) * (len(m) + 1) / 2.0
    return u / (len(m) * len(n))


def tpr_at_fpr(
    members: Sequence[float] | np.ndarray, nonmembers: Sequence[float] | np.ndarray, fpr: float
) -> float:
    """Share of members flagged at the threshold whose false-positive rate is at most ``fpr``.

    A score is flagged when it is strictly above the threshold; the threshold is the
    ``floor(fpr * n)``-th largest non-member score (the largest when that is 0), so at most
    ``floor(fpr * n)`` non-members are flagged, fewer where ties straddle it.

    Raises:
        ValueError: ``fpr`` outside [0, 1], or a bad score array.
    """
    if not (isinstance(fpr, int | float) and 0.0 <= fpr <= 1.0):
        raise ValueError(f"fpr: must be a rate in [0, 1], got {fpr!r}")
    m = _scores("members", members, finite=False)
    n = np.sort(_scores("nonmembers", nonmembers, finite=False))[::-1]
    allowed = int(math.floor(fpr * len(n) + 1e-9))
    if allowed >= len(n):
        return 1.0
    threshold = n[allowed]
    return float(np.mean(m > threshold))


def auc_interval(
    members: Sequence[float] | np.ndarray,
    nonmembers: Sequence[float] | np.ndarray,
    *,
    rng: np.random.Generator,
    n_bootstrap: int = 1000,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the AUC over a stratified bootstrap (members and non-members
    resampled separately, their counts kept; Efron & Tibshirani 1993, ch. 13).

    Raises:
        ValueError: ``n_bootstrap`` below 10 or ``level`` outside (0, 1).
    """
    if not isinstance(n_bootstrap, int) or isinstance(n_bootstrap, bool) or n_bootstrap < 10:
        raise ValueError(f"n_bootstrap: must be an integer >= 10, got {n_bootstrap!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    m = _scores("members", members, finite=False)
    n = _scores("nonmembers", nonmembers, finite=False)
    draws = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        draws[b] = auc(m[rng.integers(len(m), size=len(m))], n[rng.integers(len(n), size=len(n))])
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return float(low), float(high)


def audit(
    attack: str,
    members: Sequence[float] | np.ndarray,
    nonmembers: Sequence[float] | np.ndarray,
    *,
    rng: np.random.Generator | None = None,
    fprs: Sequence[float] = DEFAULT_FPRS,
    n_bootstrap: int = 1000,
    variant: str = "",
) -> MembershipAudit:
    """AUC, its bootstrap interval (when ``rng`` is given) and TPR at each of ``fprs``.

    Raises:
        ValueError: an empty ``attack`` name, or a bad score array or rate.
    """
    if not isinstance(attack, str) or not attack:
        raise ValueError(f"attack: give the attack's name, got {attack!r}")
    m = _scores("members", members, finite=False)
    n = _scores("nonmembers", nonmembers, finite=False)
    low, high = (math.nan, math.nan)
    if rng is not None:
        low, high = auc_interval(m, n, rng=rng, n_bootstrap=n_bootstrap)
    return MembershipAudit(
        attack=attack,
        auc=auc(m, n),
        tpr_at_fpr={float(f): tpr_at_fpr(m, n, f) for f in fprs},
        n_members=len(m),
        n_nonmembers=len(n),
        auc_ci_low=low,
        auc_ci_high=high,
        variant=variant,
    )


def loss_threshold_scores(losses: Sequence[float] | np.ndarray) -> np.ndarray:
    """The loss-threshold attack's scores (Yeom et al. 2018): ``-loss``."""
    array = np.asarray(losses, dtype=np.float64)
    if np.isnan(array).any() or (array < 0).any():
        raise ValueError("losses: cross-entropy losses must be non-negative numbers")
    return -array


def scaled_confidence(losses: Sequence[float] | np.ndarray) -> np.ndarray:
    """LiRA's logit-scaled confidence ``phi = log(p / (1 - p))`` of the true label, from
    its cross-entropy ``loss = -log p``: ``phi = -log(expm1(loss))`` (stable for small and
    large losses; losses below :data:`LOSS_FLOOR` are raised to it). Any shape."""
    array = np.asarray(losses, dtype=np.float64)
    if np.isnan(array).any() or (array < 0).any():
        raise ValueError("losses: cross-entropy losses must be non-negative numbers")
    loss = np.maximum(array, LOSS_FLOOR)
    # -log(e^loss - 1) = -loss - log(1 - e^-loss): the second form never overflows
    return -loss - np.log(-np.expm1(-loss))


def _gaussian(phi: np.ndarray, mask: np.ndarray, pooled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-example mean and standard deviation of ``phi`` over the shadows in ``mask``."""
    count = mask.sum(axis=0)
    mean = np.where(mask, phi, 0.0).sum(axis=0) / np.maximum(count, 1)
    squares = np.where(mask, (phi - mean) ** 2, 0.0)
    if pooled:  # within-example variance pooled over examples (one spread for all)
        dof = max(int(count.sum() - np.count_nonzero(count)), 1)
        std = np.full(phi.shape[1], math.sqrt(float(squares.sum()) / dof))
    else:
        std = np.sqrt(squares.sum(axis=0) / np.maximum(count - 1, 1))
    return mean, np.maximum(std, MIN_STD)


def lira_scores(
    target_phi: Sequence[float] | np.ndarray,
    shadow_phi: np.ndarray,
    shadow_in: np.ndarray,
    *,
    global_variance: bool | None = None,
) -> tuple[np.ndarray, str]:
    """LiRA scores of ``n`` candidate examples (Carlini et al. 2022, Algorithm 1).

    Args:
        target_phi: ``(n,)`` the target model's :func:`scaled_confidence` of each example.
        shadow_phi: ``(K, n)`` each shadow model's confidence of each example.
        shadow_in: ``(K, n)`` bool, whether the example was in the shadow's training data.
        global_variance: one variance for all examples (per IN/OUT side) instead of one per
            example; default: when ``K`` < :data:`GLOBAL_VARIANCE_BELOW`.

    Returns:
        ``(scores, variant)``: online (``shadow_in`` has a True) the log likelihood ratio
        ``log N(phi; mu_in, s_in) - log N(phi; mu_out, s_out)``; offline (no IN shadows) the
        one-sided ``-log P(Z > phi)``, ``Z ~ N(mu_out, s_out)``. Higher means member.

    Raises:
        ValueError: shapes disagree, a value is not finite, or an example has no OUT shadow
            (or, online, no IN shadow).
    """
    target = _scores("target_phi", target_phi)
    phi = np.asarray(shadow_phi, dtype=np.float64)
    keep = np.asarray(shadow_in)
    if phi.ndim != 2 or phi.shape[1] != len(target) or phi.shape[0] == 0:
        raise ValueError(f"shadow_phi: expected shape (K, {len(target)}), got {phi.shape}")
    if keep.shape != phi.shape or keep.dtype != np.bool_:
        raise ValueError(f"shadow_in: expected a bool array of shape {phi.shape}")
    if not np.isfinite(phi).all():
        raise ValueError("shadow_phi: confidences must be finite numbers")
    pooled = phi.shape[0] < GLOBAL_VARIANCE_BELOW if global_variance is None else global_variance
    out = ~keep
    if not out.any(axis=0).all():
        raise ValueError("shadow_in: every example needs at least one OUT shadow")
    mu_out, sd_out = _gaussian(phi, out, pooled)
    if not keep.any():
        return -stats.norm.logsf(target, loc=mu_out, scale=sd_out), "offline"
    if not keep.any(axis=0).all():
        raise ValueError("shadow_in: online LiRA needs at least one IN shadow per example")
    mu_in, sd_in = _gaussian(phi, keep, pooled)
    score = stats.norm.logpdf(target, mu_in, sd_in) - stats.norm.logpdf(target, mu_out, sd_out)
    return score, "online"


def balanced_keep(shadows: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(shadows, n)`` IN mask: each example IN for exactly ``shadows // 2`` shadows, chosen
    at random (Carlini et al.'s design), so each shadow trains on about half the pool."""
    if not isinstance(shadows, int) or isinstance(shadows, bool) or shadows < 2:
        raise ValueError(f"shadows: must be an integer >= 2, got {shadows!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: must be a positive number of examples, got {n!r}")
    order = rng.random((shadows, n)).argsort(axis=0)
    return np.asarray(order < shadows // 2)


__all__ = [
    "DEFAULT_FPRS",
    "LOSS_FLOOR",
    "MembershipAudit",
    "audit",
    "auc",
    "auc_interval",
    "balanced_keep",
    "lira_scores",
    "loss_threshold_scores",
    "scaled_confidence",
    "to_frame",
    "tpr_at_fpr",
]
