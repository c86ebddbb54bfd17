"""``market.free_rider_reasons`` on synthetic rounds: honest updates share a small subspace
(Gur-Ari et al. 2018), free riders replay the last global step (Fraboni et al. 2021).

Mutations kept here, each asserted to fail the property its test claims:

* ``_median_margin_rule`` is the screen before issue 12's follow-up (a cosine with the last
  step at least ``max(0.6, median + 0.25)``); it flags an honest update that continues the
  last step and misses a disguised rider in a round whose honest updates all point along
  the step.
* ``_full_span_replay`` is the first span test (c5e4407): the residual against the span of
  ALL the other updates; with ``d`` or more of them the span is ``R^d``, chance is 1, and
  every honest update with a cosine in ``[0.6, 0.99)`` is a replay.
* ``_relaxed_empty_rule`` is c5e4407's empty test (a tiny update is empty only when it is
  noise-like); it keeps a tiny copy of an older global step.
"""

from __future__ import annotations

import numpy as np
import pytest

from market import free_rider_reasons
from market.identities import MIN_RELATIVE_NORM, _chance_fraction, _explained

D, K = 770, 8  # MiniLM head-mode size; honest updates live in K shared directions


def _median_margin_rule(updates: np.ndarray, last: np.ndarray) -> list[str]:
    """The previous replay rule (no own shares), kept as the broken variant."""
    norms = np.linalg.norm(updates, axis=1)
    median = float(np.median(norms))
    reasons = ["empty" if x <= MIN_RELATIVE_NORM * median else "" for x in norms]
    scale = norms * np.linalg.norm(last)
    sims = np.divide(updates @ last, scale, out=np.zeros_like(scale), where=scale > 0)
    threshold = min(max(0.6, float(np.median(sims)) + 0.25), 0.99)
    return [r or ("replay" if s >= threshold else "") for r, s in zip(reasons, sims, strict=True)]


def _round(rng: np.random.Generator, n_honest: int, along: float) -> tuple[np.ndarray, np.ndarray]:
    """Honest updates in a K-dim span, each with cosine about ``along`` with the last step
    (itself in the span), plus 20% off-span idiosyncrasy; and that last step."""
    basis = np.linalg.qr(rng.normal(size=(D, K)))[0].T
    last = basis[0] * 2.0
    honest = []
    for _ in range(n_honest):
        fresh = rng.normal(size=K - 1) @ basis[1:]
        fresh /= np.linalg.norm(fresh)
        u = along * basis[0] + np.sqrt(1 - along**2) * fresh
        u += 0.2 * rng.normal(size=D) / np.sqrt(D)
        honest.append(u * rng.uniform(0.5, 3.0))
    return np.array(honest), last


def _riders(rng: np.random.Generator, last: np.ndarray, scale: float) -> np.ndarray:
    noise = rng.normal(size=D) * np.linalg.norm(last) / np.sqrt(D)
    return np.array([np.zeros(D), last.copy(), last + noise, 0.3 * last]) * [[1], [1], [1], [scale]]


@pytest.mark.parametrize("seed", range(10))
def test_aligned_honest_kept_and_every_rider_flagged(seed: int) -> None:
    rng = np.random.default_rng(seed)
    honest, last = _round(rng, 8, along=0.8)  # e.g. clients that train to convergence
    median = float(np.median(np.linalg.norm(honest, axis=1)))
    honest[0] *= 0.19 * median / np.linalg.norm(honest[0])  # the least measured on MiniLM
    updates = np.vstack([honest, _riders(rng, last, 1.0)])
    reasons = free_rider_reasons(updates, last)
    assert reasons[:8] == [""] * 8, reasons[:8]
    assert all(reasons[8:]), reasons[8:]  # zero, stale, disguised, rescaled stale
    # broken variant: the honest median (0.8) + margin lifts the threshold to 0.99, over
    # the disguised rider's 0.71
    assert not all(_median_margin_rule(updates, last)[8:])


@pytest.mark.parametrize("seed", range(10))
def test_disguised_rider_caught_when_honest_all_point_along_the_step(seed: int) -> None:
    rng = np.random.default_rng(seed)
    honest, last = _round(rng, 6, along=0.6)
    updates = np.vstack([honest, _riders(rng, last, 1.0)[2:3]])
    assert free_rider_reasons(updates, last)[-1].startswith("replays")
    # broken variant: the median (0.6) + margin lifts the threshold over the rider's 0.71
    assert _median_margin_rule(updates, last)[-1] == ""


def _relaxed_empty_rule(updates: np.ndarray, last: np.ndarray, i: int) -> bool:
    """c5e4407's empty test for a tiny row ``i``: empty only when noise-like in the span."""
    span = np.vstack([np.delete(updates, i, axis=0), last[None, :]])
    rank = int(np.linalg.matrix_rank(span))
    return _explained(updates[i], span) <= _chance_fraction(rank, updates.shape[1], 4.0)


@pytest.mark.parametrize("seed", range(5))
def test_tiny_copy_of_an_older_step_is_empty(seed: int) -> None:
    """The adversary: a tiny rescaled older global step (public, in the honest span, adds
    nothing) beside tiny noise; both are empty, and the relaxed rule keeps the copy."""
    rng = np.random.default_rng(seed)
    honest, last = _round(rng, 6, along=0.3)
    older = honest[:3].mean(axis=0)  # the step two rounds back: a mean of honest work
    median = float(np.median(np.linalg.norm(honest, axis=1)))
    copy = older / np.linalg.norm(older) * 0.03 * median
    noise = rng.normal(size=D) * 0.03 * median / np.sqrt(D)
    updates = np.vstack([honest, noise, copy])
    reasons = free_rider_reasons(updates, last)
    assert reasons[:6] == [""] * 6
    assert reasons[-2].startswith("empty") and reasons[-1].startswith("empty"), reasons[-2:]
    # broken variant: vouching for a tiny update by its span lets the copy through
    assert _relaxed_empty_rule(updates, last, len(updates) - 2)
    assert not _relaxed_empty_rule(updates, last, len(updates) - 1)


def _full_span_test(updates: np.ndarray, last: np.ndarray, i: int) -> tuple[float, float]:
    """c5e4407's replay statistic for row ``i``: the explained fraction of its residual in
    the span of every other update and the step, and the chance threshold (a replay when
    the first is at most the second)."""
    unit = last / np.linalg.norm(last)
    residual = updates[i] - (updates[i] @ unit) * unit
    span = np.vstack([np.delete(updates, i, axis=0), unit[None, :]])
    rank = int(np.linalg.matrix_rank(span))
    return _explained(residual, span), _chance_fraction(rank, updates.shape[1], 4.0)


@pytest.mark.parametrize(("n_honest", "k"), [(40, 8), (100, 8), (1000, 8), (1000, 100)])
def test_large_rounds_keep_honest_and_catch_riders(n_honest: int, k: int) -> None:
    """More updates than dimensions (1000 > 770), honest ones in a ``k``-dim subspace, all
    continuing the last step; disguised riders, one stale, one zero. 40 is the exact
    leave-one-out span, 100 just over :data:`MAX_SPAN` (a rider's own noise direction must
    not vouch for it)."""
    rng = np.random.default_rng(n_honest + k)
    basis = np.linalg.qr(rng.normal(size=(D, k)))[0].T
    last = basis[0] * 2.0
    fresh = rng.normal(size=(n_honest, k - 1)) @ basis[1:]
    fresh /= np.linalg.norm(fresh, axis=1, keepdims=True)
    honest = 0.8 * basis[0] + 0.6 * fresh + 0.2 * rng.normal(size=(n_honest, D)) / np.sqrt(D)
    honest *= rng.uniform(0.5, 3.0, size=(n_honest, 1))
    noise = rng.normal(size=(5, D)) * np.linalg.norm(last) / np.sqrt(D)
    riders = np.vstack([last + noise, last, np.zeros(D)])
    updates = np.vstack([honest, riders])
    reasons = free_rider_reasons(updates, last)
    assert [r for r in reasons[:n_honest] if r] == []
    assert all(reasons[n_honest:]), reasons[n_honest:]
    if n_honest > D:  # broken variant: the full span is R^d, so honest updates and the
        # disguised rider alike explain 1 against a chance of 1: rounding decides
        for i in (0, 1, n_honest):
            explained, chance = _full_span_test(updates, last, i)
            assert chance == 1.0 and explained == pytest.approx(1.0, abs=1e-9)


def test_bad_max_span_names_the_field() -> None:
    with pytest.raises(ValueError, match="max_span"):
        free_rider_reasons(np.ones((2, 3)), np.ones(3), max_span=0)


def test_first_round_flags_only_zero_updates() -> None:
    rng = np.random.default_rng(1)
    honest, _ = _round(rng, 5, along=0.5)
    reasons = free_rider_reasons(np.vstack([honest, np.zeros(D)]), None)
    assert reasons[:5] == [""] * 5 and reasons[5].startswith("empty")


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match="own_shares"):
        free_rider_reasons(np.ones((2, 3)), np.ones(3), own_shares=[None])
    with pytest.raises(ValueError, match="finite"):
        free_rider_reasons(np.full((2, 3), np.nan), None)
