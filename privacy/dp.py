"""Client-level differential privacy for federated rounds: noise shares and their accounting.

The mechanism is DP-FedAvg (McMahan et al. 2018, "Learning Differentially Private Recurrent
Language Models"): each client's update is clipped to L2 norm ``clip`` and Gaussian noise is
added to the sum. The noise is *distributed* (Kairouz et al. 2021, "The Distributed Discrete
Gaussian Mechanism for Federated Learning with Secure Aggregation"; Agarwal et al. 2021,
"The Skellam Mechanism"): every included client adds one noise share ``eta_i ~ N(0, s^2 I)``
with ``s = z * clip / sqrt(t)``, so any released sum of ``t`` or more clients carries noise of
standard deviation ``>= z * clip``. Under secure aggregation a client adds its share *before*
masking, in the ring (:func:`privacy.secure_aggregate`'s ``noise``), so the server only ever
unmasks a noised sum; in the clear the trusted server adds the shares itself.

A client keeps one share per round: every sum released that round (the model's, and each
coalition sum scoring asks for) carries the same ``eta_i`` of each member. The releases of a
round are then ``A (x + eta)`` for the 0/1 membership matrix ``A``, a Gaussian mechanism with
covariance ``s^2 A A^T``; zeroing client i's clipped update (the zero-out neighbouring
relation: who participated is public in a market, what it sent is not) moves it by a
Mahalanobis distance ``sqrt(h_i) * clip / s``, with ``h_i`` the leverage of i (the i-th
diagonal entry of the projection onto A's row space). So the round is exactly
``mu_i``-Gaussian DP (Dong, Roth & Su 2022, "Gaussian Differential Privacy") with
``mu_i^2 = h_i * t * (c_i / z)^2`` (``c_i``: the share of ``clip`` i's update is held to):
``h_i = 1/n`` for the model's sum alone, ``1`` where the releases determine i's noised update
(the leak audit's "exposed"). Gaussian mechanisms compose by adding ``mu^2`` (ibid., Cor. 3.3),
and ``(epsilon, delta)`` of a Gaussian mechanism is computed by the ``dp-accounting`` library
(Google; the exact conversion of Balle & Wang 2018), never by a hand-written bound.

Quantisation under secure aggregation: a share is rounded to the ring's grid with the update,
so the integer sensitivity grows by at most ``sqrt(d) / 2`` steps; :func:`share_std` adds it.
Rounded Gaussian shares stand in for the discrete Gaussian; at the scales used (>= 2^10 grid
steps) the difference is far below float precision (Kairouz et al. 2021, Thm. 1).

Threat model: clients are honest (each adds its share and shares it with nobody); the server
sees only released sums. A server that colludes with ``k`` clients can subtract their shares,
leaving the model's sum noise of variance ``(n - k) / t * (z * clip)^2``: the accounting does
not cover collusion (SECURITY.md). Noise shares come from the run's seed so that
the same seed gives the same tables: that protects against the model's users, not against
someone who knows the seed. Keys and masks still come from the OS (:mod:`privacy.client`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

MAX_EXACT_RELEASES = 4096
"""Releases beyond which a round's leverages are not computed: every member counts as exposed
(``h_i = 1``, an upper bound)."""


def check_budget(epsilon: float, delta: float) -> None:
    """Refuse a target outside ``epsilon > 0`` and ``0 < delta < 1``."""
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon: must be a finite number > 0, got {epsilon}")
    if not 0 < delta < 1:
        raise ValueError(f"delta: must be in (0, 1), got {delta}")


def noise_multiplier_for(epsilon: float, delta: float, rounds: int) -> float:
    """The ``z`` at which ``rounds`` Gaussian releases of multiplier ``z`` spend exactly
    ``(epsilon, delta)``: ``z = sigma(epsilon, delta) * sqrt(rounds)``, ``sigma`` from
    ``dp_accounting.get_sigma_gaussian`` (``rounds`` compositions of ``1/z``-GDP are
    ``sqrt(rounds)/z``-GDP)."""
    import dp_accounting

    check_budget(epsilon, delta)
    if rounds < 1:
        raise ValueError(f"rounds: must be >= 1, got {rounds}")
    return float(dp_accounting.get_sigma_gaussian(epsilon, delta)) * math.sqrt(rounds)


def epsilon_of(mu_squared: float, delta: float) -> float:
    """The ``epsilon`` at ``delta`` of a ``sqrt(mu_squared)``-GDP guarantee: 0 for nothing
    released, ``inf`` for an unbounded one (``dp_accounting.get_epsilon_gaussian``)."""
    import dp_accounting

    if mu_squared <= 0:
        return 0.0
    if not math.isfinite(mu_squared):
        return math.inf
    return float(dp_accounting.get_epsilon_gaussian(1.0 / math.sqrt(mu_squared), delta))


def share_std(z: float, clip: float, t: int, *, dimension: int = 0, step: float = 0.0) -> float:
    """Each client's noise share std ``z * clip' / sqrt(t)``; ``clip' = clip + sqrt(d) *
    step / 2`` where shares and updates are rounded to a grid of ``step`` (secure sums)."""
    if t < 1:
        raise ValueError(f"t: must be >= 1, got {t}")
    sensitivity = clip + math.sqrt(dimension) * step / 2
    return z * sensitivity / math.sqrt(t)


def grid_step(std: float, n: int, *, clip: float, bits: int) -> float:
    """The quantisation step of a secure sum of ``n`` clients whose noise shares have std
    ``std`` (the quantiser's headroom as in :func:`privacy.preparation.noise_headroom`)."""
    from privacy import preparation, quantization

    headroom = math.ceil(preparation.NOISE_TAIL * std * math.sqrt(n) / clip)
    return quantization.step(clip=clip, bits=bits, n_summands=n + headroom)


def clip_l2(vector: npt.ArrayLike, clip: float) -> np.ndarray:
    """``vector`` scaled down to L2 norm at most ``clip`` (float64)."""
    x = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(x))
    return x * (clip / norm) if norm > clip else x


def leverages(releases: Sequence[frozenset[int]], n: int) -> np.ndarray:
    """Each player's leverage ``h_i`` in the released sums (players ``0..n-1``): the squared
    norm of row i of an orthonormal basis of the releases' span; 1 means the releases
    determine its noised update, 0 that it is in none."""
    members = [r for r in releases if r]
    if n == 0 or not members:
        return np.zeros(n)
    if len(members) > MAX_EXACT_RELEASES:
        touched = np.zeros(n)
        touched[sorted(set().union(*members))] = 1.0
        return touched
    matrix = np.zeros((len(members), n))
    for row, release in enumerate(members):
        matrix[row, sorted(release)] = 1.0
    _, singular, vt = np.linalg.svd(matrix, full_matrices=False)
    rank = int(np.sum(singular > singular[0] * max(matrix.shape) * 1e-12))
    basis = vt[:rank]
    return np.asarray(np.clip(np.sum(basis**2, axis=0), 0.0, 1.0), dtype=np.float64)


MIN_GRID_STEPS = 1024
"""Grid steps a noise share's std must span under secure aggregation: from there on the
rounded Gaussian is the discrete Gaussian to far below float precision."""


def rounding(dimension: int, step: float) -> float:
    """How far rounding to a grid of ``step`` can move a ``dimension``-long update (L2)."""
    return math.sqrt(dimension) * step / 2


def sensitivity_ratio(clip_factor: float, clip: float, rounded: float = 0.0) -> float:
    """The share of the noise's sensitivity ``clip + rounded`` that an update held to
    ``clip_factor * clip`` (then rounded) can use: its ``c`` in ``mu^2 = h t (c / z)^2``."""
    return (clip_factor * clip + rounded) / (clip + rounded)


def round_mu_squared(
    releases: Sequence[frozenset[int]],
    n: int,
    *,
    z: float,
    t: int,
    clip_factors: npt.ArrayLike | None = None,
) -> np.ndarray:
    """Each player's ``mu^2`` for one round's releases: ``h_i * t * (c_i / z)^2``."""
    if z <= 0:
        raise ValueError(f"z: must be > 0, got {z}")
    factors = np.ones(n) if clip_factors is None else np.asarray(clip_factors, dtype=np.float64)
    return leverages(releases, n) * t * (factors / z) ** 2
