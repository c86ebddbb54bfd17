"""Cost of the free-rider screen (``market.free_rider_reasons``) at scale, head-mode size.

Run: ``python -m bench.screen_cost [--sizes 2000 20000]``. Synthetic rounds of ``n``
updates in ``d = 770`` (MiniLM head mode): honest updates continue the last global step
(cosine ~0.7, so every one is a replay candidate: the worst case) in a 16-dimensional
shared subspace plus 20% isotropic idiosyncrasy, and 1% disguised riders (the step plus
noise as large). Printed side by side: the screen's seconds, and the previous rule's
(c5e4407: a rank and a QR of the whole ``(n, d)`` stack per candidate) timed on one
candidate and multiplied by the number of candidates.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.machine import cpu_summary, load_average
from market import free_rider_reasons
from market.identities import _chance_fraction, _explained

D, K = 770, 16


def make_round(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """``n`` updates (the last 1% riders), the last step, and the number of honest ones."""
    riders = max(1, n // 100)
    honest = n - riders
    basis = np.linalg.qr(rng.normal(size=(D, K)))[0].T
    last = basis[0] * 2.0
    fresh = rng.normal(size=(honest, K - 1)) @ basis[1:]
    fresh /= np.linalg.norm(fresh, axis=1, keepdims=True)
    rows = 0.7 * basis[0] + 0.7 * fresh + 0.2 * rng.normal(size=(honest, D)) / np.sqrt(D)
    rows *= rng.uniform(0.5, 3.0, size=(honest, 1))
    noise = rng.normal(size=(riders, D)) * np.linalg.norm(last) / np.sqrt(D)
    return np.vstack([rows, last + noise]), last, honest


def previous_one(updates: np.ndarray, last: np.ndarray, i: int) -> bool:
    """c5e4407's per-candidate work: rank and QR of every other update and the step."""
    unit = last / np.linalg.norm(last)
    residual = updates[i] - (updates[i] @ unit) * unit
    span = np.vstack([np.delete(updates, i, axis=0), unit[None, :]])
    rank = int(np.linalg.matrix_rank(span))
    return _explained(residual, span) <= _chance_fraction(rank, D, 4.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    args = parser.parse_args()
    print(f"CPU: {cpu_summary()}; load {load_average()[0]:.1f}")
    print(
        "| n | screen s | previous rule s (1 candidate x n) | ratio | honest kept | riders caught |"
    )
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        updates, last, honest = make_round(n, np.random.default_rng(n))
        start = time.perf_counter()
        reasons = free_rider_reasons(updates, last)
        new = time.perf_counter() - start
        start = time.perf_counter()
        previous_one(updates, last, 0)
        old = (time.perf_counter() - start) * n
        kept = sum(not r for r in reasons[:honest])
        caught = sum(bool(r) for r in reasons[honest:])
        print(
            f"| {n} | {new:.2f} | {old:.0f} | {old / new:.0f}x | {kept}/{honest} | "
            f"{caught}/{n - honest} |"
        )


if __name__ == "__main__":
    main()
