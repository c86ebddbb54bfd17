"""Choices that must not flip on the last bits of a float.

Two CPUs (or two BLAS kernels) round the same fit differently in the last bits. Where the
surrogate picks the best of several candidates, or the largest of several scores, values
that are equal in exact arithmetic (two candidates that fit equally well, two coalitions of
the same total weight in a voting game) would then be ordered by rounding, and a different
choice changes what is evaluated next. Values within :data:`TIE_MARGIN` (relative) of the
best count as tied, and the first one listed wins.
"""

from __future__ import annotations

import math

import numpy as np

from market.types import FloatArray

TIE_MARGIN = 1e-9
"""Relative margin within which two values count as equal (then the one listed first
wins), so that a last-bit difference between CPUs never flips the choice."""


def first_best(losses: dict[str, float]) -> str:
    """The first key (in insertion order) whose loss is within :data:`TIE_MARGIN` of the
    smallest."""
    low = min(losses.values())
    edge = low + TIE_MARGIN * abs(low) if math.isfinite(low) else low
    return next(k for k, v in losses.items() if v <= edge)


def first_argmax(scores: FloatArray, scale: float = 0.0) -> int:
    """The first index whose score is within :data:`TIE_MARGIN` of the largest, relative to
    ``max(|largest|, scale)`` (``scale``: the size of the quantities the scores are
    differences of, so that near-zero scores still tie)."""
    values = np.where(np.isnan(scores), -np.inf, scores)  # NaN never wins
    high = float(np.max(values))
    if not math.isfinite(high):  # all -inf / NaN: the first; some +inf: the first of those
        return int(np.flatnonzero(values == high)[0])
    edge = high - TIE_MARGIN * max(abs(high), scale if math.isfinite(scale) else 0.0)
    return int(np.flatnonzero(values >= edge)[0])
