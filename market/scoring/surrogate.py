"""Surrogate-imputed Shapley: border enumeration, paired sampling, a cross-validated surrogate.

Our best estimator under a fixed budget of distinct evaluations. Three ideas combine:

1. **Border enumeration** (the "border trick" of Fumagalli et al. 2023, "SHAP-IQ", NeurIPS;
   also shapiq's ``CoalitionSampler``): coalition sizes carry Shapley weight
   ``1 / (n * C(n-1, s))`` per coalition, so the smallest and largest sizes matter most per
   evaluation. Whole size levels ``0, n, 1, n-1, 2, ...`` are evaluated exactly while they fit.
2. **Paired sampling** (Covert & Lee 2021, "Improving KernelSHAP", AISTATS): the remaining
   budget goes to pairs ``(S, N - S)`` from the middle sizes, drawn without replacement with
   the Shapley-kernel size mass ``~ 1 / (s (n - s))``.
3. **Surrogate imputation** (the regression view of KernelSHAP, Lundberg & Lee 2017, and the
   regression-adjusted estimators of Witter, Musco et al. 2025): a surrogate model of ``u`` is
   fitted on the evaluated coalitions and fills in every coalition not evaluated; the exact
   Shapley value of the completed table is returned. Evaluated coalitions keep their true
   value, so the estimate is exact at ``budget = 2**n`` and always efficient
   (``sum(phi) = u(N) - u(empty)``).

The surrogate family is chosen by K-fold cross-validation on the sampled middle coalitions
among: ``additive`` (linear in membership), ``pairwise`` (2-additive, ridge), and
``link2``/``link3``/``link4`` (a single-index model ``g(sum_i w_i x_i)`` with a polynomial link
``g`` of that degree, fitted by Levenberg-Marquardt; it captures the diminishing returns of
pooled data in federated learning). Works for ``n_players <= 20``.

Minimum budget: ``min(2**n, 2n + 2)`` (sizes 0, 1, n-1 and n).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game, player_bits, popcounts
from market.scoring.base import Estimator
from market.scoring.exact import shapley_from_table
from market.types import FloatArray, IntArray

MAX_PLAYERS = 20
FAMILIES = ("additive", "pairwise", "link2", "link3", "link4")
Predictor = Callable[[FloatArray], FloatArray]


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


def fit_family(family: str, x: FloatArray, y: FloatArray, ridge: float) -> Predictor:
    """Fit one surrogate ``family`` (see :data:`FAMILIES`)."""
    if family == "additive":
        return fit_additive(x, y)
    if family == "pairwise":
        return fit_pairwise(x, y, ridge)
    if family.startswith("link"):
        return fit_link(x, y, int(family[4:]))
    raise ValueError(f"unknown surrogate family {family!r}; choose from {FAMILIES}")


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


def design(n: int, budget: int, rng: np.random.Generator) -> tuple[IntArray, int, int]:
    """Choose the coalitions to evaluate: full border levels, then paired middle samples.

    Returns:
        The bitmasks, and the smallest and largest sizes *not* fully enumerated.
    """
    sizes_of = popcounts(n)
    chosen: list[IntArray] = []
    used = 0
    low, high = 0, n
    while low <= high:
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
    chunk = 1 << 15
    for start in range(0, size, chunk):
        block = np.arange(start, min(start + chunk, size), dtype=np.int64)
        table[block] = predict(player_bits(block, n))
    return table


@dataclass(frozen=True)
class SurrogateShapley(Estimator):
    """Border enumeration + paired sampling + cross-validated surrogate imputation.

    Args:
        families: surrogate families to choose from (subset of :data:`FAMILIES`).
        folds: cross-validation folds.
        ridge: ridge penalty of the ``pairwise`` family.
    """

    name: ClassVar[str] = "surrogate"
    families: tuple[str, ...] = FAMILIES
    folds: int = 5
    ridge: float = 1e-2

    def __post_init__(self) -> None:
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ValueError(f"families must be a non-empty subset of {FAMILIES}, got {unknown}")
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")
        if self.ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {self.ridge}")

    def minimum_budget(self, n_players: int) -> int:
        """Sizes 0, 1, n-1 and n: ``min(2**n, 2n + 2)``."""
        return min(1 << n_players, 2 * n_players + 2)

    def default_budget(self, n_players: int) -> int:
        """``max(minimum, min(2**n, 100 n))``."""
        return max(self.minimum_budget(n_players), min(1 << n_players, 100 * n_players))

    def _select(
        self, x: FloatArray, y: FloatArray, holdout: IntArray, rng: np.random.Generator
    ) -> tuple[str, float]:
        """Pick the family with the smallest K-fold error on the ``holdout`` rows."""
        if len(self.families) == 1 or len(holdout) < self.folds:
            return self.families[0], float("nan")
        parts = np.array_split(rng.permutation(holdout), self.folds)
        everything = np.arange(len(y))
        best, best_err = self.families[0], float("inf")
        for family in self.families:
            err = 0.0
            for part in parts:
                train = np.setdiff1d(everything, part)
                try:
                    pred = fit_family(family, x[train], y[train], self.ridge)(x[part])
                except np.linalg.LinAlgError:
                    err = float("inf")
                    break
                err += float(np.sum((pred - y[part]) ** 2))
            if np.isfinite(err) and err < best_err:
                best, best_err = family, err
        return best, math.sqrt(best_err / len(holdout))

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        if n > MAX_PLAYERS:
            raise ValueError(
                f"method 'surrogate' supports n_players <= {MAX_PLAYERS}, got {n}; "
                "use 'permutation' or 'tmc'"
            )
        masks, low, high = design(n, game.budget, rng)
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
        family, cv_rmse = self._select(x, y, holdout, rng)
        try:
            predict = fit_family(family, x, y, self.ridge)
        except np.linalg.LinAlgError:
            family, predict = "additive", fit_additive(x, y)
        table = _impute(predict, n)
        if not np.all(np.isfinite(table)):
            family = "additive"
            table = _impute(fit_additive(x, y), n)
        table[masks] = y
        return Contribution(
            values=shapley_from_table(table),
            evaluations=game.evaluations,
            method=self.name,
            converged=False,
            info={"surrogate": family, "cv_rmse": cv_rmse, "border_levels": low},
        )
