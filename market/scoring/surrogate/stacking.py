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
)
from market.scoring.surrogate.fedavg import fit_direction, fit_weighted_mean
from market.scoring.surrogate.gp import GPHyper, fit_gp_hyper, gp_posterior
from market.types import FloatArray, IntArray

Candidate = tuple[str, bool, "GPHyper | None"]
"""A surrogate candidate: base family, whether a GP corrects it, the GP hyperparameters."""
Fits = dict[tuple[str, int], Predictor]
"""Family fits already made in one :meth:`Stacker.build_oof`, keyed by family and training
fold (``-1``: all rows); a fit is a deterministic function of its rows, so a GP candidate's
base and the blend's members reuse the fits the families were scored with."""


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
        from scipy.optimize import nnls  # here: `import market` stays light

        none = np.zeros(0, dtype=np.int64)
        if len(holdout) < self.folds:
            family = self.families[0]
            return fit_family(family, x, y, self.ridge), family, float("nan"), none, np.zeros(0)
        parts = np.array_split(rng.permutation(holdout), self.folds)
        target = y[np.concatenate(parts)]
        specs: dict[str, Candidate] = {f: (f, False, None) for f in self.families}
        fits: Fits = {}
        oof = {k: self.out_of_fold(spec, x, y, parts, fits) for k, spec in specs.items()}
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
                oof[label] = self.out_of_fold(specs[label], x, y, parts, fits)
                sse[label] = float(np.sum((oof[label] - target) ** 2))
        usable = [k for k in specs if math.isfinite(sse[k])]
        if not usable:
            return fit_additive(x, y), "additive", float("nan"), none, np.zeros(0)
        best = min(usable, key=lambda k: sse[k])
        weights = {best: 1.0}
        if self.combine == "stack" and len(usable) > 1:
            raw, _ = nnls(np.column_stack([oof[k] for k in usable]), target)
            if raw.sum() > 0:
                weights = {k: float(w) for k, w in zip(usable, raw, strict=True) if w > 1e-6}
        fitted = [(w, self.fit(specs[k], x, y, fits)) for k, w in weights.items()]

        def blend(xq: FloatArray) -> FloatArray:
            out: FloatArray = sum((w * f(xq) for w, f in fitted), np.zeros(xq.shape[0]))
            return out

        stacked: FloatArray = sum((w * oof[k] for k, w in weights.items()), np.zeros(len(target)))
        rmse = math.sqrt(float(np.mean((stacked - target) ** 2)))
        label = "+".join(f"{w:.2f}*{k}" for k, w in weights.items())
        return blend, label, rmse, np.concatenate(parts).astype(np.int64), stacked
