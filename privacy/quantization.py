"""Fixed-point quantisation with clipping into Z_2^bits, and back.

Secure aggregation sums integers mod 2^bits (Bonawitz et al. 2017, Sec. 3). Each coordinate is
clipped to [-clip, clip] and rounded to the nearest multiple of the step clip/Q, stored in two's
complement mod 2^bits. Q = min(floor((2^(bits-1) - 1) / n_summands), 2^52) is chosen from the
largest number of vectors that will ever be added (all clients of a round), so any sum of
m <= n_summands quantised vectors stays inside the signed range and decodes with no offset:
reading the ring sum as a signed integer gives the integer sum exactly. (Flower shifts into
[0, range] instead and must subtract m times the offset after summing.)

Error: for m <= n_summands vectors, every coordinate of dequantize(sum of quantize(x_i)) is within
`max_error(clip=, bits=, n_summands=, m=)` = m * (step / 2 + clip * 2^-48) of the sum of the
clipped x_i; the second term bounds float64 rounding. The 2^52 cap on Q keeps the integers
exact in float64 (more levels would be below float64 resolution anyway).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from privacy.prg import reduce, ring_dtype
from privacy.types import FloatVector, RingVector

_MAX_LEVELS = 1 << 52
_FLOAT_SLACK = 2.0**-48


def levels(*, bits: int, n_summands: int) -> int:
    """Q: the integer that represents +clip; any n_summands of them fit the signed ring."""
    ring_dtype(bits)
    if n_summands < 1:
        raise ValueError(f"n_summands: must be >= 1, got {n_summands}")
    q = min(((1 << (bits - 1)) - 1) // n_summands, _MAX_LEVELS)
    if q < 1:
        raise ValueError(
            f"bits: 2^(bits-1)-1 must be >= n_summands={n_summands}; raise bits (got {bits})"
        )
    return q


def step(*, clip: float, bits: int, n_summands: int) -> float:
    """The quantisation step clip / Q."""
    _check_clip(clip)
    return clip / levels(bits=bits, n_summands=n_summands)


def max_error(*, clip: float, bits: int, n_summands: int, m: int = 1) -> float:
    """Bound on |dequantize(sum of m quantised vectors) - sum of the m clipped vectors|."""
    if not 0 <= m <= n_summands:
        raise ValueError(f"m: must be in 0..n_summands={n_summands}, got {m}")
    return m * (step(clip=clip, bits=bits, n_summands=n_summands) / 2 + clip * _FLOAT_SLACK)


def clip_values(values: npt.ArrayLike, clip: float) -> FloatVector:
    """`values` as float64, each coordinate clipped to [-clip, clip]; NaN is rejected."""
    _check_clip(clip)
    x = np.asarray(values, dtype=np.float64)
    if np.isnan(x).any():
        raise ValueError("values: contain NaN; pass finite numbers")
    return np.clip(x, -clip, clip)


def quantize(values: npt.ArrayLike, *, clip: float, bits: int, n_summands: int) -> RingVector:
    """Clip to [-clip, clip] and round to Z_2^bits (two's complement of round(x * Q / clip))."""
    q_levels = levels(bits=bits, n_summands=n_summands)
    scaled = (clip_values(values, clip) / clip) * q_levels  # never overflows for tiny clip
    signed = np.rint(scaled).astype(np.int64)
    dtype = ring_dtype(bits)
    ring: RingVector = signed.astype(dtype) if dtype == np.uint32 else signed.view(np.uint64)
    return reduce(ring, bits)


def add_noise(
    vector: RingVector, noise: npt.ArrayLike, *, clip: float, bits: int, n_summands: int
) -> RingVector:
    """``vector + round(noise * Q / clip)`` in Z_2^bits: a noise share (in the update's units,
    :mod:`privacy.dp`) on the quantisation grid, added mod 2^bits (no clipping, so the sum of
    the shares reaches the output whole; the ring only wraps past the quantiser's headroom)."""
    q_levels = levels(bits=bits, n_summands=n_summands)
    _check_clip(clip)
    x = np.asarray(noise, dtype=np.float64).reshape(-1)
    if x.size != np.asarray(vector).size or not np.isfinite(x).all():
        raise ValueError(f"noise: must be {np.asarray(vector).size} finite numbers")
    signed = np.rint(x * (q_levels / clip)).astype(np.int64)
    dtype = ring_dtype(bits)
    ring = signed.astype(dtype) if dtype == np.uint32 else signed.view(np.uint64)
    return reduce(np.asarray(vector, dtype=dtype) + ring, bits)


def dequantize(vector: RingVector, *, clip: float, bits: int, n_summands: int) -> FloatVector:
    """Read a ring element (or a sum of <= n_summands of them) back as floats."""
    q_levels = levels(bits=bits, n_summands=n_summands)
    _check_clip(clip)
    shift = np.uint64(64 - bits)
    words = np.asarray(vector).astype(np.uint64) << shift
    signed = words.view(np.int64) >> np.int64(shift)
    return signed.astype(np.float64) * (clip / q_levels)


def _check_clip(clip: float) -> None:
    if not (math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip: must be a finite number > 0, got {clip}")


def sum_bits(*, n_summands: int, code_levels: int = 255) -> int:
    """Bits per coordinate of a ring that holds any sum of ``n_summands`` codes exactly.

    Each code takes one of ``code_levels`` values (255 for int8 codes in [-127, 127] on a
    scale every client shares, shifted into [0, 254]); a sum of n of them lies in
    [0, n * (code_levels - 1)] and needs ``ceil(log2(n * (code_levels - 1) + 1))`` bits
    (11 bits for 8 clients, against 32 for float updates quantised as in :func:`quantize`).
    """
    if isinstance(n_summands, bool) or not isinstance(n_summands, int) or n_summands < 1:
        raise ValueError(f"n_summands: must be an int >= 1, got {n_summands!r}")
    if isinstance(code_levels, bool) or not isinstance(code_levels, int) or code_levels < 2:
        raise ValueError(f"code_levels: must be an int >= 2, got {code_levels!r}")
    return max(1, (n_summands * (code_levels - 1)).bit_length())
