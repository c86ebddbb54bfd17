"""Parametric surrogate families for coalition utilities: additive, pairwise, single-index
(polynomial or monotone link).

Each ``fit_*`` takes 0/1 memberships ``x`` ``(m, n)`` and utilities ``y`` ``(m,)`` and returns a
predictor ``x -> u``. The two FedAvg-shaped families live in :mod:`.fedavg`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from market.scoring.surrogate.ties import TIE_MARGIN
from market.types import FloatArray, IntArray

FAMILIES = (
    "additive",
    "pairwise",
    "link2",
    "link3",
    "link4",
    "iso",
    "threshold",
    "wmean2",
    "cos3",
)
"""Parametric families :func:`fit_family` knows (``"constant"`` is also accepted)."""
DEFAULT_FAMILIES = ("additive", "pairwise", "link2", "link3", "link4", "iso", "wmean2")
"""The candidates of the walks, the strata and the imputation. ``cos3`` is not among the
defaults of any sampler: its fit is not reproducible across CPUs (its multi-start least
squares ends in a different local optimum when a BLAS kernel rounds differently; predictions
moved by up to 130% between two OpenBLAS kernels of one machine), so an estimate that used it
would differ between machines for the same seed. Name it in ``families`` to use it anyway."""
FOCUSED_FAMILIES = (
    "additive",
    "pairwise",
    "link2",
    "link3",
    "link4",
    "threshold",
    "wmean2",
)
"""The candidates of the focused sampler: ``threshold`` in place of ``iso`` (the same monotone
single-index model; the Isotron's index, picked by the selection on some voting games, left
residuals on many coalitions: measured at 15% on the tuning voting games, 8 x 2 runs, median
error 0.26 with it, 0.14 without)."""
Predictor = Callable[[FloatArray], FloatArray]


def lstsq(a: FloatArray, y: FloatArray, ridge: float, skip: int = 1) -> FloatArray:
    """Ridge least squares; the first ``skip`` columns are not penalised."""
    penalty = np.full(a.shape[1], ridge)
    penalty[:skip] = 1e-10
    lhs = a.T @ a + np.diag(penalty)
    coef: FloatArray = np.linalg.solve(lhs, a.T @ y).astype(np.float64)
    return coef


def _pair_features(x: FloatArray) -> FloatArray:
    upper = np.triu_indices(x.shape[1], 1)
    pairs: FloatArray = x[:, upper[0]] * x[:, upper[1]]
    return pairs


def fit_constant(x: FloatArray, y: FloatArray) -> Predictor:
    """The mean utility (used as the prior mean of a pure GP surrogate)."""
    level = float(y.mean())
    return lambda xq: np.full(xq.shape[0], level)


def fit_additive(x: FloatArray, y: FloatArray, ridge: float = 1e-8) -> Predictor:
    """Least squares ``u(S) ~ b + sum_{i in S} a_i``."""
    coef = lstsq(np.hstack([np.ones((len(y), 1)), x]), y, ridge)

    def predict(xq: FloatArray) -> FloatArray:
        out: FloatArray = coef[0] + xq @ coef[1:]
        return out

    return predict


def fit_pairwise(x: FloatArray, y: FloatArray, ridge: float = 1e-2) -> Predictor:
    """Ridge regression on memberships and pairwise products (a 2-additive game)."""
    n = x.shape[1]
    design = np.hstack([np.ones((len(y), 1)), x, _pair_features(x)])
    coef = lstsq(design, y, ridge, skip=n + 1)

    def predict(xq: FloatArray) -> FloatArray:
        out: FloatArray = coef[0] + xq @ coef[1 : n + 1] + _pair_features(xq) @ coef[n + 1 :]
        return out

    return predict


LINK_PRIOR = 1e-4
"""Weight (per coalition) of the ``link`` fits' pull of ``w`` towards the additive fit they
start from: with few coalitions per weight, some directions of ``w`` barely change the fit,
and Levenberg-Marquardt stopped somewhere along them differently on every CPU (held-out
predictions differed by 1e-2 between two OpenBLAS kernels); the pull makes the optimum
isolated."""


def fit_link(x: FloatArray, y: FloatArray, degree: int, iterations: int = 80) -> Predictor:
    """Single-index model ``u(S) ~ g(sum_{i in S} w_i)``, ``g`` a polynomial of ``degree``.

    Starts from the additive fit ``w0`` and refines ``w`` by Levenberg-Marquardt, refitting
    ``g`` by least squares after every step (variable projection), on the squared error plus
    ``LINK_PRIOR * m * |w - w0|^2`` (:data:`LINK_PRIOR`), for ``iterations`` steps (fewer only
    if a step no longer moves ``w``, relative ``1e-12``). A fixed count, so that rounding
    never decides where the fit stops: a rescaled ``w`` fits equally well, and the solver
    moves along that direction at constant loss (a stop on a small step or a small gain
    ended the fits of one voting game at losses 1.5e-4 and 1.8e-4 on two BLAS kernels).
    """
    n = x.shape[1]
    start = lstsq(np.hstack([np.ones((len(y), 1)), x]), y, 1e-8)[1:]
    if not np.any(np.abs(start) > 1e-12):
        start = np.ones(n)
    root = np.sqrt(LINK_PRIOR * len(y))

    def link_fit(w: FloatArray) -> tuple[FloatArray, float, float, float]:
        z = x @ w
        low, span = float(z.min()), float(z.max() - z.min())
        span = span if span > 1e-12 else 1.0
        basis = np.vander((z - low) / span, degree + 1, increasing=True)
        coef: FloatArray = np.linalg.lstsq(basis, y, rcond=None)[0].astype(np.float64)
        loss = float(np.sum((basis @ coef - y) ** 2) + root**2 * np.sum((w - start) ** 2))
        return coef, low, span, loss

    weights = start
    coef, low, span, loss = link_fit(weights)
    damping = 1e-3
    for _ in range(iterations):
        zs = (x @ weights - low) / span
        powers = np.vander(zs, degree, increasing=True)
        slope = (powers @ (coef[1:] * np.arange(1, degree + 1))) / span
        jac = np.vstack([x * slope[:, None], root * np.eye(n)])
        residual = np.concatenate(
            [y - np.vander(zs, degree + 1, increasing=True) @ coef, root * (start - weights)]
        )
        jtj = jac.T @ jac
        step = np.linalg.solve(jtj + damping * np.diag(np.diag(jtj) + 1e-12), jac.T @ residual)
        if np.linalg.norm(step) <= 1e-12 * (1.0 + np.linalg.norm(weights)):
            break
        candidate = weights + step
        new = link_fit(candidate)
        if new[3] <= loss:
            weights, (coef, low, span, loss) = candidate, new
            damping = max(damping / 3.0, 1e-9)
        else:
            damping *= 10.0
            if damping > 1e8:
                break

    def predict(xq: FloatArray) -> FloatArray:
        out: FloatArray = np.vander((xq @ weights - low) / span, degree + 1, increasing=True) @ coef
        return out

    return predict


TIED_INDEX = 1e-9
"""Index values closer than this (relative to the largest) count as tied: two coalitions of
the same total weight have the same index in exact arithmetic, and their order must not be
left to rounding."""


def tie_groups(z: FloatArray) -> tuple[IntArray, IntArray]:
    """The order of ``z`` (stable) and, along it, the label of each run of tied indices
    (neighbours within :data:`TIED_INDEX` of the largest ``|z|``)."""
    order = np.argsort(z, kind="stable")
    scale = float(np.max(np.abs(z))) if len(z) else 0.0
    tied = np.diff(z[order]) <= TIED_INDEX * scale
    group: IntArray = np.concatenate([[0], np.cumsum(~tied)]).astype(np.int64)[: len(z)]
    return order.astype(np.int64), group


def index_order(z: FloatArray, y: FloatArray) -> IntArray:
    """The order of ``z``, tied indices by increasing ``y`` (then position): an order that
    rounding cannot change, followed by the isotonic fit and its interpolation knots."""
    order, group = tie_groups(z)
    out: IntArray = order[np.lexsort((order, y[order], group))]
    return out


def index_knots(z: FloatArray, y: FloatArray) -> FloatArray:
    """``z`` in :func:`index_order`, each run of tied indices at its smallest value (so the
    knots never decrease and a tie is one knot)."""
    order, group = tie_groups(z)
    smallest = np.minimum.reduceat(z[order], np.flatnonzero(np.diff(group, prepend=-1)))
    out: FloatArray = smallest[group]
    return out


def isotonic(z: FloatArray, y: FloatArray) -> FloatArray:
    """Least-squares non-decreasing fit of ``y`` ordered by ``z`` in which tied indices get one
    value (their mean to start with: de Leeuw's secondary approach to ties), by pool adjacent
    violators (Ayer et al. 1955); returns the fitted values in :func:`index_order`."""
    order, group = tie_groups(z)
    ordered = y[index_order(z, y)]
    starts = np.flatnonzero(np.diff(group, prepend=-1))
    sizes = np.diff(np.append(starts, len(z)))
    means: list[float] = []
    counts: list[int] = []
    for mean, count in zip(
        (np.add.reduceat(ordered, starts) / sizes).tolist() if len(z) else [],
        sizes.tolist(),
        strict=True,
    ):  # the new block is pooled before it is stored
        while means and means[-1] > mean:
            before, weight = means.pop(), counts.pop()
            total = weight + count
            mean = (before * weight + mean * count) / total
            count = total
        means.append(mean)
        counts.append(count)
    return np.repeat(np.array(means), np.array(counts, dtype=np.int64))


INDEX_BITS = 30
"""Bits of resolution of the Isotron's weights (:func:`on_grid`)."""


def on_grid(weights: FloatArray) -> FloatArray:
    """``weights`` rounded to multiples of a power of two ``2**-INDEX_BITS`` times their
    largest sum, so that every coalition's index ``x @ weights`` is exact whatever order a
    CPU sums it in (each partial sum is an integer multiple of the step below ``2**53``):
    the Isotron's isotonic steps depend on the order of the indices, and an order left to
    rounding sent its iterates apart on two BLAS kernels (1.6e-3 in held-out predictions)."""
    largest = float(np.abs(weights).sum())
    if not np.isfinite(largest) or largest <= 0.0:
        return weights
    step = 2.0 ** (math.ceil(math.log2(largest)) - INDEX_BITS)
    out: FloatArray = np.round(weights / step) * step
    return out


def _index_model(x: FloatArray, y: FloatArray, weights: FloatArray) -> Predictor:
    """``g(x w)`` with ``g`` the isotonic fit of ``y`` on the index ``x w``, interpolated
    between the evaluated coalitions."""
    z = x @ weights
    knots, levels = index_knots(z, y), isotonic(z, y)

    def predict(xq: FloatArray) -> FloatArray:
        out: FloatArray = np.interp(xq @ weights, knots, levels)
        return out

    return predict


def fit_isotron(x: FloatArray, y: FloatArray, iterations: int = 60) -> Predictor:
    """Monotone single-index model ``u(S) ~ g(sum_{i in S} w_i)``, ``g`` non-decreasing.

    The Isotron (Kalai & Sastry 2009): starting from the additive fit, alternate an isotonic
    fit of ``g`` with the step ``w += mean((y - g(x w)) x)``. Weighted voting (threshold) games
    are of this form with ``g`` a step; saturating accuracy curves are too.
    """
    weights = lstsq(np.hstack([np.ones((len(y), 1)), x]), y, 1e-8)[1:]
    if not np.any(np.abs(weights) > 1e-12):
        weights = np.ones(x.shape[1])
    scale = float(np.abs(weights).sum())
    weights = on_grid(weights)
    best: tuple[float, FloatArray] = (np.inf, weights)
    for _ in range(iterations):
        z = x @ weights
        fitted = np.empty(len(y))
        fitted[index_order(z, y)] = isotonic(z, y)
        sse = float(np.sum((y - fitted) ** 2))
        if sse < best[0] * (1.0 - TIE_MARGIN):  # tied iterates (equal fits): the earliest
            best = (sse, weights.copy())
        if sse <= 1e-24:
            break
        step = (y - fitted) @ x / len(y)
        weights = on_grid(
            weights + step * scale / max(float(np.abs(y).max() - np.abs(y).min()), 1e-12)
        )
    return _index_model(x, y, best[1])


def fit_threshold_index(x: FloatArray, y: FloatArray, l1: float = 1e-3) -> Predictor:
    """Monotone single-index model ``u(S) ~ g(sum_{i in S} w_i)`` whose index is a linear
    classifier of the high and low utilities, ``g`` non-decreasing.

    ``w`` is the L1-regularised soft-margin linear separator (the linear-programming SVM,
    Bradley & Mangasarian 1998) of ``u > (min u + max u) / 2``; ``g`` is the isotonic fit of
    ``u`` on ``x w``, interpolated between the evaluated coalitions. A weighted voting
    (threshold) game is a separable such split, so its index is found exactly where the
    Isotron's gradient steps need not converge; on smooth utilities the split is a coarse
    view and the stacker weighs the family down.
    """
    from scipy import sparse  # here: `import market` stays light
    from scipy.optimize import linprog

    m, n = x.shape
    signs = np.where(y > 0.5 * (float(y.min()) + float(y.max())), 1.0, -1.0)
    # variables: w+ (n), w- (n), offset, slacks (m); signs * (x w - offset) >= 1 - slack;
    # sparse, so that memory grows as m, not m**2
    cost = np.concatenate([np.full(2 * n, l1), [0.0], np.ones(m)])
    dense = np.hstack([-signs[:, None] * x, signs[:, None] * x, signs[:, None]])
    rows = sparse.hstack([sparse.csr_matrix(dense), -sparse.eye(m, format="csr")], format="csr")
    bounds = [(0.0, None)] * (2 * n) + [(None, None)] + [(0.0, None)] * m
    solved = linprog(cost, A_ub=rows, b_ub=-np.ones(m), bounds=bounds, method="highs")
    if solved.status != 0 or not np.any(np.abs(solved.x[: 2 * n]) > 1e-12):
        return fit_isotron(x, y)
    return _index_model(x, y, solved.x[:n] - solved.x[n : 2 * n])
