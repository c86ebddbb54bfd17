"""Contribution scoring: one interface, interchangeable estimators, a registry by name."""

from __future__ import annotations

import numpy as np

from market.contribution import Contribution
from market.registry import Registry
from market.scoring.adaptive import DEFAULT_BUDGET, AdaptiveShapley
from market.scoring.banzhaf import ExactFirstBanzhaf, MSRBanzhaf
from market.scoring.base import Estimator
from market.scoring.cgsv import CosineScore, cosine_contribution
from market.scoring.exact import ExactShapley, banzhaf_from_table, shapley_from_table
from market.scoring.example_banzhaf import ExampleBanzhaf
from market.scoring.gtg import GTGShapley
from market.scoring.loo import LeaveOneOut
from market.scoring.permutation import PermutationShapley
from market.scoring.surrogate import SurrogateShapley
from market.scoring.tmc import TMCShapley
from market.types import FloatArray, UtilityLike

METHODS: Registry[Estimator] = Registry(
    "method",
    {
        "adaptive": AdaptiveShapley,
        "exact": ExactShapley,
        "permutation": PermutationShapley,
        "tmc": TMCShapley,
        "gtg": GTGShapley,
        "loo": LeaveOneOut,
        "banzhaf": MSRBanzhaf,
        "surrogate": SurrogateShapley,
        "cgsv": CosineScore,
    },
    base=Estimator,
)
"""Scoring methods by name. Minimum budgets: ``exact`` 2**n; ``adaptive``, ``permutation``,
``tmc``, ``gtg``, ``loo`` n + 1; ``banzhaf`` 2; ``surrogate`` min(2**n, 2n + 2); ``cgsv`` 0."""

DEFAULT_METHOD = "adaptive"
"""The default scoring method: exact when ``2**n <= budget``, else the surrogate's unbiased
control-variate sampler from 11 to 20 players and antithetic permutation sampling otherwise;
keeps efficiency, null player and symmetry (``python -m bench.default_scoring``)."""

BEST_METHOD = "surrogate"
"""The most accurate estimator per evaluation on smooth games (see ``python -m bench.shapley``)."""


def make_estimator(method: str, **options: object) -> Estimator:
    """Build the estimator registered as ``method`` with ``options``."""
    return METHODS.make(method, **options)


def register_estimator(name: str, cls: type[Estimator], *, replace: bool = False) -> None:
    """Make ``cls`` (an :class:`Estimator` subclass) a scoring method named ``name``:
    ``market.scoring = "<name>"`` in a scenario then builds it (see ``examples/plugins``)."""
    METHODS.register(name, cls, replace=replace)


def estimate(
    utility: UtilityLike | None,
    n_players: int,
    method: str = "exact",
    *,
    budget: int | None = None,
    rng: np.random.Generator | None = None,
    updates: FloatArray | None = None,
    weights: FloatArray | None = None,
    **options: object,
) -> Contribution:
    """Score the ``n_players`` players of ``utility`` with ``method``.

    Args:
        utility: ``u(frozenset) -> float`` over players ``0 .. n-1``, or a table of length
            ``2**n`` indexed by bitmask (bit ``i`` = player ``i``). ``None`` only for
            ``method="cgsv"``.
        n_players: number of players.
        method: a key of :data:`METHODS`.
        budget: maximum distinct utility evaluations (empty and grand coalitions included);
            ``None`` uses the method's default.
        rng: random generator; ``None`` means ``np.random.default_rng(0)``.
        updates, weights: update vectors ``(n, d)`` and aggregation weights, for a method
            that reads them (``cgsv``: :attr:`Estimator.needs`).
        **options: fields of the method's estimator class (e.g. ``truncation=0.05`` for
            ``tmc``).

    Raises:
        ValueError: unknown method or option, budget below the method's minimum, or a
            utility that returns NaN or an infinity.
    """
    return make_estimator(method, **options).estimate(
        utility, n_players, budget=budget, rng=rng, updates=updates, weights=weights
    )


__all__ = [
    "BEST_METHOD",
    "DEFAULT_BUDGET",
    "DEFAULT_METHOD",
    "AdaptiveShapley",
    "METHODS",
    "Contribution",
    "CosineScore",
    "Estimator",
    "ExactFirstBanzhaf",
    "ExampleBanzhaf",
    "ExactShapley",
    "GTGShapley",
    "LeaveOneOut",
    "MSRBanzhaf",
    "PermutationShapley",
    "SurrogateShapley",
    "TMCShapley",
    "banzhaf_from_table",
    "cosine_contribution",
    "estimate",
    "make_estimator",
    "register_estimator",
    "shapley_from_table",
]
