"""Validation of array arguments shared across :mod:`market`.

Each check returns the validated array (float64 where it converts) and raises ``ValueError``
with the message its callers have always raised.
"""

from __future__ import annotations

import numpy as np

from market.types import BoolArray, FloatArray


def finite_vector(values: object, name: str, *, non_empty: bool = False) -> FloatArray:
    """``values`` as a 1-D float64 array of finite numbers (with ``non_empty``: at least one)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or (non_empty and arr.size < 1) or not np.all(np.isfinite(arr)):
        article = "a non-empty" if non_empty else "a"
        raise ValueError(f"{name} must be {article} 1-D array of finite floats")
    return arr


def per_player(
    values: object, mask: BoolArray, name: str, *, nonnegative: bool = True
) -> FloatArray:
    """``values`` as a float64 array of shape ``(n,)`` (``n = mask.size``) whose entries in
    ``mask`` are finite (and, with ``nonnegative``, ``>= 0``); the others are not checked."""
    n = mask.size
    arr = np.asarray(values, dtype=np.float64)
    inside = arr[mask] if arr.shape == (n,) else None
    if inside is None or not np.all(np.isfinite(inside)) or (nonnegative and np.any(inside < 0)):
        rule = "and >= 0" if nonnegative else "for participants"
        raise ValueError(f"{name} must have shape ({n},) and be finite {rule}")
    return arr


def vector_pair(
    first: object, second: object, message: str, *, copy: bool = True
) -> tuple[FloatArray, FloatArray]:
    """``first`` and ``second`` as float64 arrays (copies with ``copy``), the first 1-D and the
    second of its shape; else ``ValueError(message)``."""
    a = np.array(first, dtype=np.float64, copy=True if copy else None)
    b = np.array(second, dtype=np.float64, copy=True if copy else None)
    if a.ndim != 1 or b.shape != a.shape:
        raise ValueError(message)
    return a, b


def check_players(n_players: int) -> None:
    """Raise ``ValueError`` unless ``n_players >= 1``."""
    if n_players < 1:
        raise ValueError(f"n_players must be >= 1, got {n_players}")
