"""Shamir t-of-n secret sharing of 32-byte secrets over the prime field GF(2^256 + 297).

Shamir (1979), as used by Bonawitz et al. (2017) for the self-mask seed b_u and the mask
private key s_u^SK. A secret s < 2^256 is the constant term of a random polynomial of degree
t - 1; share x is (x, f(x)). Any t shares give s back by Lagrange interpolation at 0; any t - 1
shares are consistent with every possible secret, so they reveal nothing.

A prime field just above 2^256 holds a whole 32-byte secret in one polynomial. Coefficients
come from the OS CSPRNG (`secrets`), never from a simulation seed.

Shamir alone does not detect a wrong share: t shares always interpolate to some value. With
more than t shares, `combine_shares(..., threshold=t)` checks that all of them lie on one
polynomial of degree t - 1 (a tampered share among t + 1 is detected).

Wire format of one share: the x-coordinate as 4 bytes big-endian, then f(x) as 33 bytes
big-endian (37 bytes).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

PRIME: Final = (1 << 256) + 297
"""The field modulus: the smallest prime above 2^256."""

SECRET_BYTES: Final = 32
X_BYTES: Final = 4
Y_BYTES: Final = 33
SHARE_BYTES: Final = X_BYTES + Y_BYTES


def create_shares(secret: bytes, *, threshold: int, n_shares: int) -> list[bytes]:
    """Split `secret` into `n_shares` shares (x = 1..n_shares), any `threshold` of which rebuild it.

    Args:
        secret: exactly 32 bytes.
        threshold: t, in 1..n_shares.
        n_shares: n.
    """
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"secret: expected {SECRET_BYTES} bytes, got {len(secret)}")
    if not 1 <= n_shares < 1 << (8 * X_BYTES):
        raise ValueError(f"n_shares: must be in 1..2^32-1, got {n_shares}")
    if not 1 <= threshold <= n_shares:
        raise ValueError(f"threshold: must be in 1..n_shares={n_shares}, got {threshold}")
    coefficients = [int.from_bytes(secret, "big")]
    coefficients += [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    shares = []
    for x in range(1, n_shares + 1):
        y = 0
        for c in reversed(coefficients):
            y = (y * x + c) % PRIME
        shares.append(x.to_bytes(X_BYTES, "big") + y.to_bytes(Y_BYTES, "big"))
    return shares


def parse_share(share: bytes) -> tuple[int, int]:
    """(x, y) of one share."""
    if len(share) != SHARE_BYTES:
        raise ValueError(f"share: expected {SHARE_BYTES} bytes, got {len(share)}")
    x = int.from_bytes(share[:X_BYTES], "big")
    y = int.from_bytes(share[X_BYTES:], "big")
    if x == 0 or y >= PRIME:
        raise ValueError("share: x must be > 0 and y below the field prime")
    return x, y


@lru_cache(maxsize=4096)
def _lagrange(xs: tuple[int, ...], at: int) -> tuple[int, ...]:
    """The Lagrange basis coefficients L_j(at) of the nodes `xs` over GF(PRIME).

    Cached: in a SecAgg round every client's secret is rebuilt from shares at the same few
    x-coordinates (holders reveal in id order), so the inverses are computed once a round.
    """
    coefficients = []
    for j, xj in enumerate(xs):
        numerator, denominator = 1, 1
        for m, xm in enumerate(xs):
            if m != j:
                numerator = numerator * (at - xm) % PRIME
                denominator = denominator * (xj - xm) % PRIME
        coefficients.append(numerator * pow(denominator, -1, PRIME) % PRIME)
    return tuple(coefficients)


def _interpolate(points: Sequence[tuple[int, int]], at: int) -> int:
    """The value at `at` of the polynomial of degree < len(points) through `points`."""
    basis = _lagrange(tuple(x for x, _ in points), at)
    return sum(y * c for (_, y), c in zip(points, basis, strict=True)) % PRIME


def combine_shares(shares: Sequence[bytes], *, threshold: int | None = None) -> bytes:
    """The secret whose polynomial passes through the shares (Lagrange interpolation at 0).

    With at least t shares of one secret this is that secret. With fewer it is some other value
    (or a ValueError when the value does not fit 32 bytes): Shamir cannot tell the difference.

    Args:
        shares: distinct shares of one secret.
        threshold: t; when given, the first t shares define the polynomial and every further
            share must lie on it (ValueError otherwise: a tampered or foreign share).
    """
    if not shares:
        raise ValueError("shares: need at least one share")
    points = [parse_share(s) for s in shares]
    xs = [x for x, _ in points]
    if len(set(xs)) != len(xs):
        raise ValueError("shares: x-coordinates must be distinct; drop the duplicate shares")
    basis = points if threshold is None else points[:threshold]
    for x, y in points[len(basis) :]:
        if _interpolate(basis, x) != y:
            raise ValueError(f"shares: the share at x={x} is not on the polynomial of the others")
    secret = _interpolate(basis, 0)
    if secret >> (8 * SECRET_BYTES):
        raise ValueError("shares: do not interpolate to a 32-byte secret (too few or mixed shares)")
    return secret.to_bytes(SECRET_BYTES, "big")
