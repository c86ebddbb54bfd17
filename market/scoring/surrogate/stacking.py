"""Choosing and blending surrogate candidates by stacking (Breiman 1996, "Stacked
regressions", Machine Learning 24).

The candidates (each parametric family, and a GP correction on top of the best family, of
the additive model and of the mean) are scored by K-fold out-of-fold predictions on the
sampled middle coalitions; non-negative weights fitted to those predictions blend them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from market.scoring.surrogate.families import (
    FAMILIES,
    Predictor,
    fit_additive,
    fit_constant,
    fit_isotron,
    fit_link,
    fit_pairwise,
    fit_threshold_index,
)
from market.scoring.surrogate.fedavg import fit_direction, fit_weighted_mean
from market.scoring.surrogate.gp import GPHyper, fit_gp_hyper, gp_posterior
from market.scoring.surrogate.ties import first_best
from market.types import FloatArray, IntArray

Candidate = tuple[str, bool, "GPHyper | None"]
"""A surrogate candidate: base family, whether a GP corrects it, the GP hyperparameters."""
Fits = dict[tuple[str, int], Predictor]
"""Family fits already made in one :meth:`Stacker.choose`, keyed by family and training
fold (``-1``: all rows); a fit is a deterministic function of its rows, so a GP candidate's
base and the blend's members reuse the fits the families were scored with."""
Blend = dict[str, tuple[float, Candidate]]
"""A blend of candidates: label -> (non-negative weight, candidate)."""


def fit_family(family: str, x: FloatArray, y: FloatArray, ridge: float) -> Predictor:
    """Fit one surrogate ``family`` (see :data:`FAMILIES`; also ``"constant"``)."""
    if family == "constant":
        return fit_constant(x, y)
    if family == "additive":
        return fit_additive(x, y)
    if family == "pairwise":
        return fit_pairwise(x, y, ridge)
    if family.startswith("link"):
        return fit_link(x, y, int(family[4:]))
    if family == "iso":
        return fit_isotron(x, y)
    if family == "threshold":
        return fit_threshold_index(x, y)
    if family == "wmean2":
        return fit_weighted_mean(x, y, 2)
    if family == "cos3":
        return fit_direction(x, y, 3, 3)
    raise ValueError(f"unknown surrogate family {family!r}; choose from {FAMILIES} or constant")


@dataclass(frozen=True)
class Stacker:
    """Fits and blends the surrogate candidates (options of :class:`SurrogateShapley`)."""

    families: tuple[str, ...]
    gp: bool
    folds: int
    ridge: float
    max_gp_points: int
    gp_fit_points: int
    combine: str

    def fit(
        self,
        spec: Candidate,
        x: FloatArray,
        y: FloatArray,
        fits: Fits | None = None,
        fold: int = -1,
    ) -> Predictor:
        """Fit one candidate surrogate (a family, optionally with a fixed-hyper GP) on the
        rows of training ``fold``, reusing and recording its family's fit in ``fits``."""
        base, use_gp, hyper = spec
        if fits is None:
            mean = fit_family(base, x, y, self.ridge)
        else:
            if (base, fold) not in fits:
                fits[base, fold] = fit_family(base, x, y, self.ridge)
            mean = fits[base, fold]
        if not use_gp:
            return mean
        correction = gp_posterior(x, y - mean(x), hyper)

        def predict(xq: FloatArray) -> FloatArray:
            out: FloatArray = mean(xq) + correction(xq)
            return out

        return predict

    def out_of_fold(
        self,
        spec: Candidate,
        x: FloatArray,
        y: FloatArray,
        parts: list[IntArray],
        fits: Fits | None = None,
    ) -> FloatArray:
        """K-fold out-of-fold predictions on the concatenated ``parts`` (training fold ``k``:
        every row not in ``parts[k]``; ``fits`` as in :meth:`fit`)."""
        everything = np.arange(len(y))
        preds = []
        for k, part in enumerate(parts):
            train = np.setdiff1d(everything, part)
            try:
                preds.append(self.fit(spec, x[train], y[train], fits, k)(x[part]))
            except np.linalg.LinAlgError:
                return np.full(sum(len(p) for p in parts), np.inf)
        out: FloatArray = np.concatenate(preds)
        return out

    def build(
        self, x: FloatArray, y: FloatArray, holdout: IntArray, rng: np.random.Generator
    ) -> tuple[Predictor, str, float]:
        """Fit the candidates, weigh them by stacking their out-of-fold predictions on the
        ``holdout`` rows (non-negative least squares), return the blend, its label and its
        out-of-fold RMSE."""
        predict, label, rmse, _, _ = self.build_oof(x, y, holdout, rng)
        return predict, label, rmse

    def build_oof(
        self, x: FloatArray, y: FloatArray, holdout: IntArray, rng: np.random.Generator
    ) -> tuple[Predictor, str, float, IntArray, FloatArray]:
        """:meth:`build`, plus the rows that got an out-of-fold prediction and the blend's
        out-of-fold predictions on them (``y`` itself where no candidate could be scored)."""
        blend, rows, stacked, fits = self.choose(x, y, holdout, rng)
        fitted = [(w, self.fit(spec, x, y, fits)) for w, spec in blend.values()]

        def predict(xq: FloatArray) -> FloatArray:
            out: FloatArray = sum((w * f(xq) for w, f in fitted), np.zeros(xq.shape[0]))
            return out

        if not len(rows):  # nothing was scored: the one candidate kept, by its name
            return predict, next(iter(blend)), math.nan, rows, stacked
        rmse = math.sqrt(float(np.mean((stacked - y[rows]) ** 2)))
        return predict, blend_label(blend), rmse, rows, stacked

    def choose(
        self,
        x: FloatArray,
        y: FloatArray,
        holdout: IntArray,
        rng: np.random.Generator,
        row_weights: FloatArray | None = None,
    ) -> tuple[Blend, IntArray, FloatArray, Fits]:
        """The candidates' blend (label -> weight, candidate), the rows scored out of fold,
        the blend's out-of-fold predictions there and the fits made on the way.

        Candidates are scored by their out-of-fold squared error; with ``row_weights`` by
        their weighted absolute error ``sum_rows row_weights |u - prediction|`` instead, and
        the best one is kept alone (``combine`` is then ignored)."""
        none = np.zeros(0, dtype=np.int64)
        if len(holdout) < self.folds:
            family = self.families[0]
            return {family: (1.0, (family, False, None))}, none, np.zeros(0), {}
        parts = np.array_split(rng.permutation(holdout), self.folds)
        scored = np.concatenate(parts).astype(np.int64)
        target = y[scored]
        weights_of_rows = None if row_weights is None else row_weights[scored]

        def loss(prediction: FloatArray) -> float:
            if weights_of_rows is None:
                return float(np.sum((prediction - target) ** 2))
            return float(np.sum(weights_of_rows * np.abs(prediction - target)))

        specs: dict[str, Candidate] = {f: (f, False, None) for f in self.families}
        fits: Fits = {}
        oof = {k: self.out_of_fold(spec, x, y, parts, fits) for k, spec in specs.items()}
        sse = {k: loss(p) for k, p in oof.items()}
        family = first_best({k: v if math.isfinite(v) else math.inf for k, v in sse.items()})
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
                oof[label] = self.out_of_fold(specs[label], x, y, parts, fits)
                sse[label] = loss(oof[label])
        usable = [k for k in specs if math.isfinite(sse[k])]
        if not usable:
            return {"additive": (1.0, ("additive", False, None))}, none, np.zeros(0), fits
        best = first_best({k: sse[k] for k in usable})
        weights = {best: 1.0}
        if self.combine == "stack" and row_weights is None and len(usable) > 1:
            columns = np.column_stack([oof[k] for k in usable])
            raw = stack_weights(columns, target, usable.index(best))
            if raw.sum() > 0:
                weights = {k: float(w) for k, w in zip(usable, raw, strict=True) if w > 1e-6}
        stacked: FloatArray = sum((w * oof[k] for k, w in weights.items()), np.zeros(len(target)))
        return {k: (w, specs[k]) for k, w in weights.items()}, scored, stacked, fits

    def fit_blend(self, blend: Blend, x: FloatArray, y: FloatArray) -> Predictor:
        """The ``blend`` refitted on ``(x, y)``."""
        fitted = [(w, self.fit(spec, x, y)) for w, spec in blend.values()]

        def predict(xq: FloatArray) -> FloatArray:
            out: FloatArray = sum((w * f(xq) for w, f in fitted), np.zeros(xq.shape[0]))
            return out

        return predict


STACK_RIDGE = 1e-3
"""Ridge of the stacking weights towards the best candidate alone, relative to the mean
squared norm of the candidates' out-of-fold predictions about the target's mean. The
candidates' predictions are close to collinear (condition numbers 1e7 to 1e17 on the
bench's games), so plain non-negative least squares split the weight between them by
rounding: weights differed by 3e-2 between two BLAS kernels. The ridge makes the weights a
well-conditioned function of the predictions while the blend still fits them
(``bench/surrogate_reproducibility.py``); on the geometry games of ``tests/market`` the
errors moved by under 2% of themselves."""


def stack_weights(predictions: FloatArray, target: FloatArray, best: int) -> FloatArray:
    """Non-negative weights of the columns of ``predictions`` (Breiman 1996), regularised
    towards column ``best`` alone by :data:`STACK_RIDGE`."""
    from scipy.optimize import nnls  # here: `import market` stays light

    k = predictions.shape[1]
    scale = float(np.mean(np.sum((predictions - target.mean()) ** 2, axis=0)))
    root = math.sqrt(STACK_RIDGE * scale) if math.isfinite(scale) and scale > 0 else 0.0
    anchor = np.zeros(k)
    anchor[best] = root
    augmented = np.vstack([predictions, root * np.eye(k)])
    weights, _ = nnls(augmented, np.concatenate([target, anchor]))
    out: FloatArray = weights
    return out


def blend_label(blend: Blend) -> str:
    """``"0.40*iso+0.60*threshold+gp"``: the blend's weights and candidates."""
    return "+".join(f"{w:.2f}*{k}" for k, (w, _) in blend.items())
