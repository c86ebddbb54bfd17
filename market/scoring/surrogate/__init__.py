"""Surrogate Shapley, as a package: design, families, GP correction, stacking, exact axiom
handling, the unbiased samplers of the surrogate's residual (focused, strata, walks) and the
estimator (:class:`SurrogateShapley`)."""

from __future__ import annotations

from market.scoring.surrogate.design import design, impute
from market.scoring.surrogate.estimator import MAX_PLAYERS, SurrogateShapley
from market.scoring.surrogate.families import FAMILIES
from market.scoring.surrogate.stacking import fit_family

__all__ = ["FAMILIES", "MAX_PLAYERS", "SurrogateShapley", "design", "fit_family", "impute"]
