"""Shamir t-of-n secret sharing of 32-byte secrets over the prime field GF(2^256 + 297).

Shamir (1979), as used by Bonawitz et al. (2017) for the self-mask seed b_u and the mask
private key s_u^SK. A secret s < 2^256 is the constant term of a random polynomial of degree
t - 1; share x is (x, f(x)). Any t shares give s back by Lagrange interpolation at 0; any t - 1
shares are consistent with every possible secret, so they reveal nothing.

A prime field just above 2^256 holds a whole 32-byte secret in one polynomial. (pycryptodome's
`Shamir` works on 16-byte secrets in GF(2^128), draws its coefficients from the OS, which
makes simulations irreproducible, and is two orders of magnitude slower here (pure-Python
GF(2^128) arithmetic, two halves per secret), so it is not used.)

Wire format of one share: the x-coordinate as 4 bytes big-endian, then f(x) as 33 bytes
big-endian (37 bytes).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Final

import numpy as np

PRIME: Final = (1 << 256) + 297
"""The field modulus: the smallest prime above 2^256."""

SECRET_BYTES: Final = 32
X_BYTES: Final = 4
Y_BYTES: Final = 33
SHARE_BYTES: Final = X_BYTES + Y_BYTES


def _random_element(rng: np.random.Generator | None) -> int:
    if rng is None:
        return secrets.randbelow(PRIME)
    # 384 random bits mod PRIME: statistical distance from uniform below 2^-127.
    return int.from_bytes(rng.bytes(48), "big") % PRIME


def create_shares(
    secret: bytes, *, threshold: int, n_shares: int, rng: np.random.Generator | None = None
) -> list[bytes]:
    """Split `secret` into `n_shares` shares (x = 1..n_shares), any `threshold` of which rebuild it.

    Args:
        secret: exactly 32 bytes.
        threshold: t, in 1..n_shares.
        n_shares: n.
        rng: None in real use (coefficients from the OS CSPRNG); a Generator only for
            reproducible simulation.
    """
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"secret: expected {SECRET_BYTES} bytes, got {len(secret)}")
    if not 1 <= n_shares < 1 << (8 * X_BYTES):
        raise ValueError(f"n_shares: must be in 1..2^32-1, got {n_shares}")
    if not 1 <= threshold <= n_shares:
        raise ValueError(f"threshold: must be in 1..n_shares={n_shares}, got {threshold}")
    coefficients = [int.from_bytes(secret, "big")]
    coefficients += [_random_element(rng) for _ in range(threshold - 1)]
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


def combine_shares(shares: Sequence[bytes]) -> bytes:
    """The secret whose polynomial passes through all `shares` (Lagrange interpolation at 0).

    With at least t shares of one secret this is that secret. With fewer it is some other value
    (or a ValueError when the value does not fit 32 bytes): Shamir cannot tell the difference.
    """
    if not shares:
        raise ValueError("shares: need at least one share")
    points = [parse_share(s) for s in shares]
    xs = [x for x, _ in points]
    if len(set(xs)) != len(xs):
        raise ValueError("shares: x-coordinates must be distinct; drop the duplicate shares")
    secret = 0
    for j, (xj, yj) in enumerate(points):
        numerator, denominator = 1, 1
        for m, xm in enumerate(xs):
            if m != j:
                numerator = numerator * xm % PRIME
                denominator = denominator * (xm - xj) % PRIME
        secret = (secret + yj * numerator * pow(denominator, -1, PRIME)) % PRIME
    if secret >> (8 * SECRET_BYTES):
        raise ValueError("shares: do not interpolate to a 32-byte secret (too few or mixed shares)")
    return secret.to_bytes(SECRET_BYTES, "big")
