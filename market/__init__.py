"""fedmarket's market: contribution scoring, reward mechanisms and fairness metrics.

Pure numpy/scipy; imports no sibling package. Entry points:

* :func:`estimate` / :data:`METHODS` -- score players of a coalition utility;
* :func:`cosine_contribution` -- score update vectors without utility evaluations;
* :func:`accumulate` / :class:`ContributionLedger` -- multi-round totals;
* :data:`MECHANISMS` -- reward rules returning an :class:`Allocation` within budget;
* :func:`fairness_summary`, :func:`sybil_gain` and the other metrics;
* :mod:`market.games` -- oracle games with known Shapley values.
"""

from __future__ import annotations

from market import games
from market.accumulate import ContributionLedger, accumulate
from market.contribution import Contribution
from market.game import BudgetExhausted, Game
from market.mechanisms import (
    MECHANISMS,
    Allocation,
    Mechanism,
    ReputationState,
    make_mechanism,
)
from market.metrics import (
    IRViolations,
    SybilResult,
    budget_balance,
    fairness_summary,
    free_rider_share,
    gini,
    ir_violations,
    jain_index,
    pearson,
    replicate,
    spearman,
    sybil_gain,
)
from market.scoring import (
    BEST_METHOD,
    METHODS,
    banzhaf_from_table,
    cosine_contribution,
    estimate,
    make_estimator,
    shapley_from_table,
)

__all__ = [
    "BEST_METHOD",
    "MECHANISMS",
    "METHODS",
    "Allocation",
    "BudgetExhausted",
    "Contribution",
    "ContributionLedger",
    "Game",
    "IRViolations",
    "Mechanism",
    "ReputationState",
    "SybilResult",
    "accumulate",
    "banzhaf_from_table",
    "budget_balance",
    "cosine_contribution",
    "estimate",
    "fairness_summary",
    "free_rider_share",
    "games",
    "gini",
    "ir_violations",
    "jain_index",
    "make_estimator",
    "make_mechanism",
    "pearson",
    "replicate",
    "shapley_from_table",
    "spearman",
    "sybil_gain",
]
