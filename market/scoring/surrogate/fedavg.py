"""FedAvg-shaped single-index surrogate families fitted by variable projection.

``wmean2``: quality of a weighted mean of the members; ``cos3``: alignment of the sum of
latent member updates with a good direction (on utility tables recorded from real MiniLM
rounds it cut the error at a 15% budget about twofold, ``bench/shapley.py``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import numpy as np

from market.scoring.surrogate.families import Predictor, lstsq
from market.scoring.surrogate.ties import TIE_MARGIN
from market.types import FloatArray

RESTARTS = 3
"""Extra random starts of the ``cos3`` fit (its least-squares problem has local minima)."""
WMEAN_PRIOR = 1e-4
"""Weight (per coalition) of ``wmean2``'s pull towards its start: the index is unchanged by a
common shift of ``log w`` and by an affine map of ``v`` (the link absorbs it), so without a
pull the solver drifts along those flat directions differently on every CPU (predictions
differed by 3e-3 between two OpenBLAS kernels); with it every optimum is isolated."""
SYMMETRY_TILT = 1e-3
"""Size of the fixed offset added to ``wmean2``'s start so that it never starts on a saddle
(see :func:`fit_weighted_mean`)."""
CONVERGED = {"max_nfev": 500, "ftol": 1e-12, "xtol": 1e-12, "gtol": 1e-12}
"""``least_squares`` options of a fit run to convergence (``wmean2`` stops after 100-200
evaluations on the tables of ``tests/market``)."""


Index = Callable[[FloatArray, FloatArray], FloatArray]
"""``index(p, x)``: the index ``z`` ``(m,)`` of memberships ``x`` at parameters ``p``."""
Gradient = Callable[[FloatArray, FloatArray, FloatArray], FloatArray]
"""``gradient(p, x, z)``: the Jacobian ``dz/dp`` ``(m, P)`` given ``z = index(p, x)``."""


def _projected_fit(
    index: Index,
    gradient: Gradient,
    x: FloatArray,
    y: FloatArray,
    starts: list[FloatArray],
    degree: int,
    bounds: tuple[FloatArray, FloatArray] | None = None,
    *,
    prior: float = 0.0,
    solver: dict[str, float] | None = None,
) -> Predictor:
    """Fit ``u(S) ~ g(z(S; p))``, ``g`` a polynomial of ``degree``, by variable projection.

    ``g`` is refitted by least squares for every ``p`` and ``p`` is found by trust-region
    least squares on the projected residual (Golub & Pereyra 1973, with Kaufman's 1975
    Jacobian). The Jacobian is only ever asked for at the point of the last residual (trust
    region steps), so the index and the fit of ``g`` there are kept and reused.

    ``prior`` adds the residuals ``sqrt(prior * m) (p - starts[0])`` (a Tikhonov pull that
    makes a gauge-free optimum isolated); ``solver`` overrides ``least_squares`` options
    (default: at most 60 evaluations, the historical, unconverged setting of ``cos3``). Of
    several starts, a later one replaces the best only if its cost is lower by more than a
    relative :data:`~.ties.TIE_MARGIN` (1e-9), so rounding never decides between two
    equally good fits.
    """

    from scipy.optimize import least_squares  # here: `import market` stays light for the CLI

    def basis(z: FloatArray) -> FloatArray:
        return np.vander(z, degree + 1, increasing=True)

    last: dict[bytes, tuple[FloatArray, FloatArray, FloatArray]] = {}

    def link(p: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        key = p.tobytes()
        if key not in last:
            z = index(p, x)
            b = basis(z)
            coef: FloatArray = np.linalg.lstsq(b, y, rcond=None)[0].astype(np.float64)
            last.clear()
            last[key] = (z, b, coef)
        return last[key]

    root, center = math.sqrt(prior * len(y)), starts[0]

    def residual(p: FloatArray) -> FloatArray:
        _, b, coef = link(p)
        out: FloatArray = b @ coef - y
        if prior > 0.0:
            out = np.concatenate([out, root * (p - center)])
        return out

    def jacobian(p: FloatArray) -> FloatArray:
        z, b, coef = link(p)
        slope = np.vander(b[:, 1], degree, increasing=True) @ (coef[1:] * np.arange(1, degree + 1))
        jac = slope[:, None] * gradient(p, x, z)
        out: FloatArray = jac - b @ np.linalg.lstsq(b, jac, rcond=None)[0]
        if prior > 0.0:
            out = np.vstack([out, root * np.eye(len(p))])
        return out

    options = {"max_nfev": 60} if solver is None else solver
    p, best = starts[0], math.inf
    for start in starts:  # multi-start: the index model has local minima
        with contextlib.suppress(np.linalg.LinAlgError, ValueError):
            fit = least_squares(
                residual, start, jac=jacobian, method="trf",
                bounds=bounds if bounds is not None else (-np.inf, np.inf), **options,
            )  # fmt: skip
            if fit.cost < best * (1.0 - TIE_MARGIN):
                p, best = fit.x, float(fit.cost)
    coef = np.linalg.lstsq(basis(index(p, x)), y, rcond=None)[0]

    def predict(xq: FloatArray) -> FloatArray:
        out: FloatArray = basis(index(p, xq)) @ coef
        return out

    return predict


def fit_weighted_mean(x: FloatArray, y: FloatArray, degree: int = 2) -> Predictor:
    """FedAvg index model ``u(S) ~ g(sum_S w_i v_i / sum_S w_i)``, ``w_i > 0``.

    A FedAvg coalition model is the weight-averaged model of its members, so to first order
    its quality is a weighted mean of per-player qualities ``v_i`` with the players' weights
    ``w_i`` (data sizes, learned here).
    """
    n = x.shape[1]
    additive = lstsq(np.hstack([np.ones((len(y), 1)), x]), y, 1e-8)[1:]
    spread = float(np.std(additive))
    v0 = (additive - additive.mean()) / (spread if spread > 1e-12 else 1.0)

    def index(p: FloatArray, xq: FloatArray) -> FloatArray:
        w, v = np.exp(p[:n]), p[n:]
        z: FloatArray = (xq @ (w * v)) / np.maximum(xq @ w, 1e-12)
        return z

    def gradient(p: FloatArray, xq: FloatArray, z: FloatArray) -> FloatArray:
        w, v = np.exp(p[:n]), p[n:]
        mass = np.maximum(xq @ w, 1e-12)
        dz_log_w = xq * w * (v[None, :] - z[:, None]) / mass[:, None]
        dz_v = xq * w / mass[:, None]
        return np.hstack([dz_log_w, dz_v])

    low = np.concatenate([np.full(n, -6.0), np.full(n, -np.inf)])
    high = np.concatenate([np.full(n, 6.0), np.full(n, np.inf)])
    # symmetric players would start on a saddle that rounding breaks towards one of two
    # mirror-image optima (differing by 0.5 between two BLAS kernels on a voting game): a
    # fixed, generic tilt decides instead
    tilt = SYMMETRY_TILT * np.cos(1.7 * np.arange(1, 2 * n + 1))
    start = np.concatenate([np.zeros(n), v0]) + tilt
    return _projected_fit(
        index, gradient, x, y, [start], degree, (low, high), prior=WMEAN_PRIOR, solver=CONVERGED
    )


def fit_direction(x: FloatArray, y: FloatArray, rank: int = 3, degree: int = 3) -> Predictor:
    """Latent-update model ``u(S) ~ g(cos(sum_S u_i, e_1))``, ``u_i`` in ``R^rank``.

    Each player is a latent update ``u_i``; a coalition's aggregate is their sum, and its
    utility depends on how well the aggregate points along a good direction ``e_1`` -- the
    geometry behind cosine-based contribution (CGSV, Xu et al. 2021, NeurIPS) and behind
    FedAvg games where a noisy or adversarial update turns the average away. A FedAvg model
    ``m + sum_S w_i d_i / sum_S w_i`` is in this family exactly: its direction is that of
    ``sum_S w_i (m + d_i)``, so ``u_i = w_i (m + d_i)`` (the cosine ignores the scale).
    """
    n = x.shape[1]
    additive = lstsq(np.hstack([np.ones((len(y), 1)), x]), y, 1e-8)[1:]
    start = np.zeros((n, rank))
    start[:, 0] = 1.0 + additive / (float(np.abs(additive).max()) + 1e-12)
    if rank > 1:  # a fixed, small spread off the axis (deterministic start)
        start[:, 1:] = 0.3 * np.cos(np.add.outer(np.arange(n), np.arange(1, rank)) * 1.7)

    def aggregate(p: FloatArray, xq: FloatArray) -> tuple[FloatArray, FloatArray]:
        total = xq @ p.reshape(n, rank)  # (m, rank)
        return total, np.maximum(np.linalg.norm(total, axis=1), 1e-12)

    def index(p: FloatArray, xq: FloatArray) -> FloatArray:
        total, norm = aggregate(p, xq)
        z: FloatArray = total[:, 0] / norm
        return z

    def gradient(p: FloatArray, xq: FloatArray, z: FloatArray) -> FloatArray:
        total, norm = aggregate(p, xq)
        d = -z[:, None] * total / norm[:, None]
        d[:, 0] += 1.0
        d /= norm[:, None]
        out: FloatArray = (xq[:, :, None] * d[:, None, :]).reshape(len(z), n * rank)
        return out

    rng = np.random.default_rng(0)  # fixed: the fit is a deterministic function of the data
    starts = [start.ravel()] + [
        (start + rng.normal(0.0, 0.7, start.shape)).ravel() for _ in range(RESTARTS)
    ]
    return _projected_fit(index, gradient, x, y, starts, degree)
