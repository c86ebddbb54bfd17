"""Surrogate-imputed Shapley: border enumeration, paired sampling, a stacked surrogate model.

Our best estimator under a fixed budget of distinct evaluations. Three ideas combine:

1. **Border enumeration** (the "border trick" of Fumagalli et al. 2023, "SHAP-IQ", NeurIPS;
   also shapiq's ``CoalitionSampler``): coalition sizes carry Shapley weight
   ``1 / (n * C(n-1, s))`` per coalition, so the smallest and largest sizes matter most per
   evaluation. The levels ``0, n, 1, n-1`` and, when the budget affords them, ``2, n-2``
   (``border_levels=3``) are evaluated exactly.
2. **Paired sampling** (Covert & Lee 2021, "Improving KernelSHAP", AISTATS): the remaining
   budget goes to pairs ``(S, N - S)`` of the other sizes, drawn without replacement with the
   Shapley-kernel size mass ``~ 1 / (s (n - s))``.
3. **Surrogate imputation** (the regression view of KernelSHAP, Lundberg & Lee 2017, and the
   regression-adjusted estimators of Witter, Musco et al. 2025): a surrogate model of ``u`` is
   fitted on the evaluated coalitions and fills in every coalition not evaluated; the exact
   Shapley value of the completed table is returned. Evaluated coalitions keep their true
   value, so the estimate is exact at ``budget = 2**n`` and always efficient
   (``sum(phi) = u(N) - u(empty)``).

Surrogates: ``additive`` (linear in membership), ``pairwise`` (2-additive, ridge),
``link2``/``link3``/``link4`` (a single-index model ``g(sum_i w_i x_i)`` with a polynomial link
of that degree, fitted by Levenberg-Marquardt: the diminishing returns of pooled data), and two
families shaped by how FedAvg builds a coalition's model: ``wmean2`` (quality of a weighted
mean of the members) and ``cos3`` (alignment of the sum of latent member updates with a good
direction; on utility tables recorded from real MiniLM rounds it cut the error at a 15%
budget about twofold, ``bench/shapley.py``), plus
Gaussian-process corrections (ARD squared-exponential kernel on memberships, hyperparameters by
maximum marginal likelihood; Rasmussen & Williams 2006, ch. 5) on top of the best parametric
family, of the additive model and of the mean (a pure GP); the GP learns interactions that no
parametric family has. The candidates are blended by stacking (Breiman 1996, "Stacked
regressions"): non-negative weights fitted to their K-fold out-of-fold predictions on the
sampled middle coalitions. The GP is used while at most ``max_gp_points`` coalitions are
evaluated; its hyperparameters are fitted on a random subset of ``gp_fit_points`` of them.
Works for ``n_players <= 20``.

Minimum budget: ``min(2**n, 2n + 2)`` (sizes 0, 1, n-1 and n).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import least_squares, minimize, nnls

from market.contribution import Contribution
from market.game import Game, player_bits, popcounts
from market.scoring.base import Estimator
from market.scoring.exact import shapley_from_table
from market.types import FloatArray, IntArray

MAX_PLAYERS = 20
FAMILIES = ("additive", "pairwise", "link2", "link3", "link4", "wmean2", "cos3")
RESTARTS = 3
"""Extra random starts of the ``cos3`` fit (its least-squares problem has local minima)."""
Predictor = Callable[[FloatArray], FloatArray]
Candidate = tuple[str, bool, "GPHyper | None"]
"""A surrogate candidate: base family, whether a GP corrects it, the GP hyperparameters."""


def _lstsq(a: FloatArray, y: FloatArray, ridge: float, skip: int = 1) -> FloatArray:
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
    coef = _lstsq(np.hstack([np.ones((len(y), 1)), x]), y, ridge)

    def predict(xq: FloatArray) -> FloatArray:
        out: FloatArray = coef[0] + xq @ coef[1:]
        return out

    return predict


def fit_pairwise(x: FloatArray, y: FloatArray, ridge: float = 1e-2) -> Predictor:
    """Ridge regression on memberships and pairwise products (a 2-additive game)."""
    n = x.shape[1]
    design = np.hstack([np.ones((len(y), 1)), x, _pair_features(x)])
    coef = _lstsq(design, y, ridge, skip=n + 1)

    def predict(xq: FloatArray) -> FloatArray:
        out: FloatArray = coef[0] + xq @ coef[1 : n + 1] + _pair_features(xq) @ coef[n + 1 :]
        return out

    return predict


def fit_link(x: FloatArray, y: FloatArray, degree: int, iterations: int = 40) -> Predictor:
    """Single-index model ``u(S) ~ g(sum_{i in S} w_i)``, ``g`` a polynomial of ``degree``.

    Starts from the additive fit and refines ``w`` by Levenberg-Marquardt, refitting ``g`` by
    least squares after every step (variable projection).
    """
    n = x.shape[1]
    weights = _lstsq(np.hstack([np.ones((len(y), 1)), x]), y, 1e-8)[1:]
    if not np.any(np.abs(weights) > 1e-12):
        weights = np.ones(n)

    def link_fit(w: FloatArray) -> tuple[FloatArray, float, float, float]:
        z = x @ w
        low, span = float(z.min()), float(z.max() - z.min())
        span = span if span > 1e-12 else 1.0
        basis = np.vander((z - low) / span, degree + 1, increasing=True)
        coef: FloatArray = np.linalg.lstsq(basis, y, rcond=None)[0].astype(np.float64)
        sse = float(np.sum((basis @ coef - y) ** 2))
        return coef, low, span, sse

    coef, low, span, sse = link_fit(weights)
    damping = 1e-3
    for _ in range(iterations):
        zs = (x @ weights - low) / span
        powers = np.vander(zs, degree, increasing=True)
        slope = (powers @ (coef[1:] * np.arange(1, degree + 1))) / span
        jac = x * slope[:, None]
        residual = y - np.vander(zs, degree + 1, increasing=True) @ coef
        jtj = jac.T @ jac
        step = np.linalg.solve(jtj + damping * np.diag(np.diag(jtj) + 1e-12), jac.T @ residual)
        candidate = weights + step
        new = link_fit(candidate)
        if new[3] < sse:
            improvement = (sse - new[3]) / max(sse, 1e-300)
            weights, (coef, low, span, sse) = candidate, new
            damping = max(damping / 3.0, 1e-9)
            if improvement < 1e-10:
                break
        else:
            damping *= 10.0
            if damping > 1e8:
                break

    def predict(xq: FloatArray) -> FloatArray:
        out: FloatArray = np.vander((xq @ weights - low) / span, degree + 1, increasing=True) @ coef
        return out

    return predict


def _projected_fit(
    features: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    x: FloatArray,
    y: FloatArray,
    starts: list[FloatArray],
    degree: int,
    bounds: tuple[FloatArray, FloatArray] | None = None,
) -> Predictor:
    """Fit ``u(S) ~ g(z(S; p))``, ``g`` a polynomial of ``degree``, by variable projection.

    ``features(p, x)`` returns the index ``z`` ``(m,)`` and its Jacobian ``dz/dp`` ``(m, P)``.
    ``g`` is refitted by least squares for every ``p`` and ``p`` is found by trust-region
    least squares on the projected residual (Golub & Pereyra 1973, with Kaufman's 1975
    Jacobian).
    """

    def basis(z: FloatArray) -> FloatArray:
        return np.vander(z, degree + 1, increasing=True)

    def link(p: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        z, dz = features(p, x)
        b = basis(z)
        coef: FloatArray = np.linalg.lstsq(b, y, rcond=None)[0].astype(np.float64)
        return b, coef, dz

    def residual(p: FloatArray) -> FloatArray:
        b, coef, _ = link(p)
        out: FloatArray = b @ coef - y
        return out

    def jacobian(p: FloatArray) -> FloatArray:
        b, coef, dz = link(p)
        z = b[:, 1]
        slope = np.vander(z, degree, increasing=True) @ (coef[1:] * np.arange(1, degree + 1))
        jac = slope[:, None] * dz
        out: FloatArray = jac - b @ np.linalg.lstsq(b, jac, rcond=None)[0]
        return out

    p, best = starts[0], math.inf
    for start in starts:  # multi-start: the index model has local minima
        with contextlib.suppress(np.linalg.LinAlgError, ValueError):
            fit = least_squares(
                residual, start, jac=jacobian, method="trf", max_nfev=60,
                bounds=bounds if bounds is not None else (-np.inf, np.inf),
            )  # fmt: skip
            if fit.cost < best:
                p, best = fit.x, float(fit.cost)
    coef = np.linalg.lstsq(basis(features(p, x)[0]), y, rcond=None)[0]

    def predict(xq: FloatArray) -> FloatArray:
        out: FloatArray = basis(features(p, xq)[0]) @ coef
        return out

    return predict


def fit_weighted_mean(x: FloatArray, y: FloatArray, degree: int = 2) -> Predictor:
    """FedAvg index model ``u(S) ~ g(sum_S w_i v_i / sum_S w_i)``, ``w_i > 0``.

    A FedAvg coalition model is the weight-averaged model of its members, so to first order
    its quality is a weighted mean of per-player qualities ``v_i`` with the players' weights
    ``w_i`` (data sizes, learned here).
    """
    n = x.shape[1]
    additive = _lstsq(np.hstack([np.ones((len(y), 1)), x]), y, 1e-8)[1:]
    spread = float(np.std(additive))
    v0 = (additive - additive.mean()) / (spread if spread > 1e-12 else 1.0)

    def features(p: FloatArray, xq: FloatArray) -> tuple[FloatArray, FloatArray]:
        w, v = np.exp(p[:n]), p[n:]
        mass = np.maximum(xq @ w, 1e-12)
        z = (xq @ (w * v)) / mass
        dz_log_w = xq * w * (v[None, :] - z[:, None]) / mass[:, None]
        dz_v = xq * w / mass[:, None]
        return z, np.hstack([dz_log_w, dz_v])

    low = np.concatenate([np.full(n, -6.0), np.full(n, -np.inf)])
    high = np.concatenate([np.full(n, 6.0), np.full(n, np.inf)])
    start = np.concatenate([np.zeros(n), v0])
    return _projected_fit(features, x, y, [start], degree, (low, high))


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
    additive = _lstsq(np.hstack([np.ones((len(y), 1)), x]), y, 1e-8)[1:]
    start = np.zeros((n, rank))
    start[:, 0] = 1.0 + additive / (float(np.abs(additive).max()) + 1e-12)
    if rank > 1:  # a fixed, small spread off the axis (deterministic start)
        start[:, 1:] = 0.3 * np.cos(np.add.outer(np.arange(n), np.arange(1, rank)) * 1.7)

    def features(p: FloatArray, xq: FloatArray) -> tuple[FloatArray, FloatArray]:
        total = xq @ p.reshape(n, rank)  # (m, rank)
        norm = np.maximum(np.linalg.norm(total, axis=1), 1e-12)
        z = total[:, 0] / norm
        d = -z[:, None] * total / norm[:, None]
        d[:, 0] += 1.0
        d /= norm[:, None]
        return z, (xq[:, :, None] * d[:, None, :]).reshape(len(z), n * rank)

    rng = np.random.default_rng(0)  # fixed: the fit is a deterministic function of the data
    starts = [start.ravel()] + [
        (start + rng.normal(0.0, 0.7, start.shape)).ravel() for _ in range(RESTARTS)
    ]
    return _projected_fit(features, x, y, starts, degree)


def fit_family(family: str, x: FloatArray, y: FloatArray, ridge: float) -> Predictor:
    """Fit one surrogate ``family`` (see :data:`FAMILIES`)."""
    if family == "constant":
        return fit_constant(x, y)
    if family == "additive":
        return fit_additive(x, y)
    if family == "pairwise":
        return fit_pairwise(x, y, ridge)
    if family.startswith("link"):
        return fit_link(x, y, int(family[4:]))
    if family == "wmean2":
        return fit_weighted_mean(x, y, 2)
    if family == "cos3":
        return fit_direction(x, y, 3, 3)
    raise ValueError(f"unknown surrogate family {family!r}; choose from {FAMILIES} or constant")


@dataclass(frozen=True, eq=False)
class GPHyper:
    """Hyperparameters of the residual GP: ARD precisions, signal and noise variances."""

    precision: FloatArray
    signal: float
    noise: float


def _sq_dist(a: FloatArray, b: FloatArray, precision: FloatArray) -> FloatArray:
    """Weighted squared distances between 0/1 rows (``x**2 = x`` for memberships)."""
    out: FloatArray = (
        (a @ precision)[:, None] + (b @ precision)[None, :] - 2.0 * (a * precision) @ b.T
    )
    return np.maximum(out, 0.0)


def fit_gp_hyper(x: FloatArray, r: FloatArray, maxiter: int = 50) -> GPHyper | None:
    """Maximise the GP log marginal likelihood of residuals ``r`` (analytic gradient).

    Returns ``None`` when the residuals are constant.
    """
    m, n = x.shape
    r = r - r.mean()
    var = float(r.var())
    if m < 3 or var <= 1e-300:
        return None
    diffs = ((x[:, None, :] - x[None, :, :]) ** 2).reshape(m * m, n)
    eye = np.eye(m)

    def objective(p: FloatArray) -> tuple[float, FloatArray]:
        precision, signal, noise = np.exp(p[:n]), math.exp(p[n]), math.exp(p[n + 1])
        kernel = np.exp(-(diffs @ precision)).reshape(m, m)
        cov = signal * kernel + (noise + 1e-10) * eye
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(p)
        inv_chol = solve_triangular(chol, eye, lower=True)
        inverse = inv_chol.T @ inv_chol
        alpha = inverse @ r
        w = inverse - np.outer(alpha, alpha)
        weighted = (w * (signal * kernel)).ravel()
        grad = np.empty_like(p)
        grad[:n] = -0.5 * precision * (diffs.T @ weighted)
        grad[n] = 0.5 * weighted.sum()
        grad[n + 1] = 0.5 * noise * np.trace(w)
        value = 0.5 * float(r @ alpha) + float(np.log(np.diag(chol)).sum())
        return value, grad

    log_var = math.log(var)
    start = np.concatenate([np.full(n, math.log(0.3)), [log_var - math.log(2)] * 2])
    bounds = [(-6.0, 4.0)] * n + [(log_var - 10.0, log_var + 3.0)] * 2
    result = minimize(
        objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter}
    )
    p = result.x
    return GPHyper(np.exp(p[:n]), math.exp(p[n]), math.exp(p[n + 1]))


def gp_posterior(x: FloatArray, r: FloatArray, hyper: GPHyper | None) -> Predictor:
    """Posterior mean of the residual GP given ``hyper`` (zero when ``hyper`` is None)."""
    if hyper is None:
        return lambda xq: np.zeros(xq.shape[0])
    cov = hyper.signal * np.exp(-_sq_dist(x, x, hyper.precision))
    cov[np.diag_indices_from(cov)] += hyper.noise + 1e-10
    alpha = np.linalg.solve(cov, r)

    def predict(xq: FloatArray) -> FloatArray:
        out: FloatArray = hyper.signal * np.exp(-_sq_dist(xq, x, hyper.precision)) @ alpha
        return out

    return predict


@contextlib.contextmanager
def _single_blas_thread() -> Iterator[None]:
    """Run BLAS single-threaded when threadpoolctl is installed (optional).

    The surrogate solves many ~100x100 systems; on a loaded machine BLAS threads only add
    synchronisation cost (measured 100x slower on 2 busy cores).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional speed-up only
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _pair_quota(n: int, sizes: list[int], n_pairs: int, rng: np.random.Generator) -> list[int]:
    """Split ``n_pairs`` over sizes ``s <= n/2`` by kernel mass, capped by level capacity."""
    capacity = [math.comb(n, s) // (2 if 2 * s == n else 1) for s in sizes]
    mass = np.array([(0.5 if 2 * s == n else 1.0) / (s * (n - s)) for s in sizes])
    quota = [0] * len(sizes)
    left = min(n_pairs, sum(capacity))
    open_ = [k for k in range(len(sizes)) if capacity[k] > 0]
    while left > 0 and open_:
        share = mass[open_] / mass[open_].sum() * left
        base = np.floor(share).astype(int)
        extra = left - int(base.sum())
        if extra > 0:
            frac = share - base
            probs = frac / frac.sum() if frac.sum() > 0 else None
            picks = rng.choice(len(open_), size=extra, replace=False, p=probs)
            base[picks] += 1
        for j, k in enumerate(open_):
            take = min(int(base[j]), capacity[k] - quota[k])
            quota[k] += take
            left -= take
        open_ = [k for k in open_ if quota[k] < capacity[k]]
    return quota


def design(
    n: int, budget: int, rng: np.random.Generator, border_levels: int = 2
) -> tuple[IntArray, int, int]:
    """Choose the coalitions to evaluate: up to ``border_levels`` full levels on each side
    (sizes ``0 .. border_levels-1`` and ``n-border_levels+1 .. n``), then paired samples.

    Returns:
        The bitmasks, and the smallest and largest sizes *not* fully enumerated.
    """
    sizes_of = popcounts(n)
    chosen: list[IntArray] = []
    used = 0
    low, high = 0, n
    while low <= high and low < border_levels:
        cost = math.comb(n, low) + (math.comb(n, high) if high != low else 0)
        if used + cost > budget:
            break
        levels = [low] if low == high else [low, high]
        for s in levels:
            chosen.append(np.flatnonzero(sizes_of == s).astype(np.int64))
        used += cost
        low, high = low + 1, high - 1
    grand = (1 << n) - 1
    middle = [s for s in range(low, high + 1) if 2 * s <= n]
    n_pairs = (budget - used) // 2
    if middle and n_pairs > 0:
        for s, k in zip(middle, _pair_quota(n, middle, n_pairs, rng), strict=True):
            if k == 0:
                continue
            level = np.flatnonzero(sizes_of == s).astype(np.int64)
            if 2 * s == n:
                level = level[(level & 1) == 1]  # one representative per pair {S, N - S}
            picked = rng.choice(level, size=k, replace=False)
            chosen.append(picked)
            chosen.append(grand ^ picked)
    masks = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    if low <= high and len(masks) < budget:  # an odd evaluation left: one unpaired coalition
        in_middle = np.flatnonzero((sizes_of >= low) & (sizes_of <= high)).astype(np.int64)
        unused = np.setdiff1d(in_middle, masks)
        if unused.size:
            masks = np.append(masks, rng.choice(unused))
    return masks, low, high


def _impute(predict: Predictor, n: int) -> FloatArray:
    """Evaluate the surrogate on all ``2**n`` coalitions, in chunks."""
    size = 1 << n
    table = np.empty(size)
    chunk = 1 << 12
    for start in range(0, size, chunk):
        block = np.arange(start, min(start + chunk, size), dtype=np.int64)
        table[block] = predict(player_bits(block, n))
    return table


@dataclass(frozen=True)
class SurrogateShapley(Estimator):
    """Border enumeration + paired sampling + stacked surrogate imputation.

    Args:
        families: parametric surrogate families to choose from (subset of :data:`FAMILIES`).
        gp: also consider the Gaussian-process residual correction.
        folds: cross-validation folds.
        ridge: ridge penalty of the ``pairwise`` family.
        border_levels: size levels enumerated exactly on each side (at least 2).
        max_gp_points: largest number of evaluated coalitions the GP is used with.
        gp_fit_points: GP hyperparameters are fitted on a random subset of this many.
        combine: ``"stack"`` blends the candidates with non-negative weights fitted to their
            out-of-fold predictions; ``"select"`` keeps the one with the smallest error.
    """

    name: ClassVar[str] = "surrogate"
    families: tuple[str, ...] = FAMILIES
    gp: bool = True
    folds: int = 5
    ridge: float = 1e-2
    border_levels: int = 3
    max_gp_points: int = 1000
    gp_fit_points: int = 160
    combine: str = "stack"

    def __post_init__(self) -> None:
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ValueError(f"families must be a non-empty subset of {FAMILIES}, got {unknown}")
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")
        if self.ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {self.ridge}")
        if self.border_levels < 2:
            raise ValueError(f"border_levels must be >= 2, got {self.border_levels}")
        if self.combine not in ("stack", "select"):
            raise ValueError(f"combine must be 'stack' or 'select', got {self.combine!r}")
        if self.max_gp_points < 3 or self.gp_fit_points < 3:
            raise ValueError("max_gp_points and gp_fit_points must be >= 3")

    def minimum_budget(self, n_players: int) -> int:
        """Sizes 0, 1, n-1 and n: ``min(2**n, 2n + 2)``."""
        return min(1 << n_players, 2 * n_players + 2)

    def default_budget(self, n_players: int) -> int:
        """``max(minimum, min(2**n, 100 n))``."""
        return max(self.minimum_budget(n_players), min(1 << n_players, 100 * n_players))

    def _fit(self, spec: Candidate, x: FloatArray, y: FloatArray) -> Predictor:
        """Fit one candidate surrogate (a family, optionally with a fixed-hyper GP)."""
        base, use_gp, hyper = spec
        mean = fit_family(base, x, y, self.ridge)
        if not use_gp:
            return mean
        correction = gp_posterior(x, y - mean(x), hyper)

        def predict(xq: FloatArray) -> FloatArray:
            out: FloatArray = mean(xq) + correction(xq)
            return out

        return predict

    def _out_of_fold(
        self, spec: Candidate, x: FloatArray, y: FloatArray, parts: list[IntArray]
    ) -> FloatArray:
        """K-fold out-of-fold predictions on the concatenated ``parts``."""
        everything = np.arange(len(y))
        preds = []
        for part in parts:
            train = np.setdiff1d(everything, part)
            try:
                preds.append(self._fit(spec, x[train], y[train])(x[part]))
            except np.linalg.LinAlgError:
                return np.full(sum(len(p) for p in parts), np.inf)
        out: FloatArray = np.concatenate(preds)
        return out

    def _build(
        self, x: FloatArray, y: FloatArray, holdout: IntArray, rng: np.random.Generator
    ) -> tuple[Predictor, str, float]:
        """Fit the candidates, weigh them by stacking their out-of-fold predictions on the
        ``holdout`` rows (non-negative least squares, Breiman 1996), return the blend."""
        if len(holdout) < self.folds:
            family = self.families[0]
            return fit_family(family, x, y, self.ridge), family, float("nan")
        parts = np.array_split(rng.permutation(holdout), self.folds)
        target = y[np.concatenate(parts)]
        specs: dict[str, Candidate] = {f: (f, False, None) for f in self.families}
        oof = {k: self._out_of_fold(spec, x, y, parts) for k, spec in specs.items()}
        sse = {k: float(np.sum((p - target) ** 2)) for k, p in oof.items()}
        family = min(sse, key=lambda k: sse[k] if math.isfinite(sse[k]) else math.inf)
        if self.gp and len(y) <= self.max_gp_points:
            subset = rng.permutation(len(y))[: self.gp_fit_points]
            for base in dict.fromkeys([family, "additive", "constant"]):
                try:
                    mean = fit_family(base, x[subset], y[subset], self.ridge)
                    hyper = fit_gp_hyper(x[subset], y[subset] - mean(x[subset]))
                except np.linalg.LinAlgError:
                    continue
                label = f"{base}+gp"
                specs[label] = (base, True, hyper)
                oof[label] = self._out_of_fold(specs[label], x, y, parts)
                sse[label] = float(np.sum((oof[label] - target) ** 2))
        usable = [k for k in specs if math.isfinite(sse[k])]
        if not usable:
            return fit_additive(x, y), "additive", float("nan")
        best = min(usable, key=lambda k: sse[k])
        weights = {best: 1.0}
        if self.combine == "stack" and len(usable) > 1:
            raw, _ = nnls(np.column_stack([oof[k] for k in usable]), target)
            if raw.sum() > 0:
                weights = {k: float(w) for k, w in zip(usable, raw, strict=True) if w > 1e-6}
        fitted = [(w, self._fit(specs[k], x, y)) for k, w in weights.items()]

        def blend(xq: FloatArray) -> FloatArray:
            out: FloatArray = sum((w * f(xq) for w, f in fitted), np.zeros(xq.shape[0]))
            return out

        stacked = sum(w * oof[k] for k, w in weights.items())
        rmse = math.sqrt(float(np.mean((stacked - target) ** 2)))
        label = "+".join(f"{w:.2f}*{k}" for k, w in weights.items())
        return blend, label, rmse

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        if n > MAX_PLAYERS:
            raise ValueError(
                f"method 'surrogate' supports n_players <= {MAX_PLAYERS}, got {n}; "
                "use 'permutation' or 'tmc'"
            )
        masks, low, high = design(n, game.budget, rng, self.border_levels)
        y = game.values(masks.tolist())
        size = 1 << n
        if low > high or len(masks) == size:
            table = np.empty(size)
            table[masks] = y
            return Contribution(
                values=shapley_from_table(table),
                evaluations=game.evaluations,
                method=self.name,
                info={"surrogate": "none", "border_levels": low},
            )
        x = player_bits(masks, n)
        sizes = x.sum(axis=1)
        holdout = np.flatnonzero((sizes >= low) & (sizes <= high)).astype(np.int64)
        if len(holdout) < self.folds:
            holdout = np.arange(len(y), dtype=np.int64)
        with _single_blas_thread():
            predict, label, cv_rmse = self._build(x, y, holdout, rng)
            table = _impute(predict, n)
        if not np.all(np.isfinite(table)):
            label = "additive"
            table = _impute(fit_additive(x, y), n)
        table[masks] = y
        return Contribution(
            values=shapley_from_table(table),
            evaluations=game.evaluations,
            method=self.name,
            converged=False,
            info={"surrogate": label, "cv_rmse": cv_rmse, "border_levels": low},
        )
