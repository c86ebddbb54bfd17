"""``market.free_rider_reasons`` on synthetic rounds: honest updates share a small subspace
(Gur-Ari et al. 2018), free riders replay the last global step (Fraboni et al. 2021).

Mutation kept here: ``_median_margin_rule`` is the screen before issue 12's follow-up (a
cosine with the last step at least ``max(0.6, median + 0.25)``); it flags an honest update
that continues the last step and misses a disguised rider in a round whose honest updates
all point along the step, and the tests assert both failures.
"""

from __future__ import annotations

import numpy as np
import pytest

from market import free_rider_reasons
from market.identities import MIN_RELATIVE_NORM

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
    honest[0] *= 0.02  # a one-step client beside many-step ones: tiny but in the span
    updates = np.vstack([honest, _riders(rng, last, 1.0)])
    reasons = free_rider_reasons(updates, last)
    assert reasons[:8] == [""] * 8, reasons[:8]
    assert all(reasons[8:]), reasons[8:]  # zero, stale, disguised, rescaled stale
    # broken variant: the median-margin rule flags the aligned honest updates
    assert any(_median_margin_rule(updates, last)[:8])


@pytest.mark.parametrize("seed", range(10))
def test_disguised_rider_caught_when_honest_all_point_along_the_step(seed: int) -> None:
    rng = np.random.default_rng(seed)
    honest, last = _round(rng, 6, along=0.6)
    updates = np.vstack([honest, _riders(rng, last, 1.0)[2:3]])
    assert free_rider_reasons(updates, last)[-1].startswith("replays")
    # broken variant: the median (0.6) + margin lifts the threshold over the rider's 0.71
    assert _median_margin_rule(updates, last)[-1] == ""


def test_tiny_noise_is_empty_but_a_tiny_honest_update_is_not() -> None:
    rng = np.random.default_rng(0)
    honest, last = _round(rng, 6, along=0.3)
    median = float(np.median(np.linalg.norm(honest, axis=1)))
    noise = rng.normal(size=D) * 0.01 * median / np.sqrt(D)
    small = honest[0] / np.linalg.norm(honest[0]) * 0.01 * median
    reasons = free_rider_reasons(np.vstack([honest, noise, small]), last)
    assert reasons[-2].startswith("empty") and reasons[-1] == ""
    assert reasons[:6] == [""] * 6


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
