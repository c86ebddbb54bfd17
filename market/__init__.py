"""fedmarket's market: contribution scoring, reward mechanisms and fairness metrics.

Pure numpy/scipy; imports no sibling package. Entry points:

* :func:`estimate` / :data:`METHODS` -- score players of a coalition utility;
* :func:`cosine_contribution` -- score update vectors without utility evaluations;
* :func:`accumulate` / :class:`ContributionLedger` -- multi-round totals;
* :data:`MECHANISMS` / :data:`DEFAULT_MECHANISM` -- reward rules: ``select`` before
  training (a :class:`Selection`), ``allocate`` after scoring (an :class:`Allocation`);
* :class:`ReputationPolicy` / :class:`ReputationState` -- the one reputation policy;
* :func:`fairness_summary`, :func:`sybil_gain` and the other metrics;
* :mod:`market.games` -- oracle games with known Shapley values.
"""

from __future__ import annotations

from market import games
from market.accumulate import ContributionLedger, accumulate
from market.contribution import Contribution
from market.game import BudgetExhausted, Game
from market.identities import free_rider_reasons, replica_groups
from market.mechanisms import (
    DEFAULT_MECHANISM,
    MECHANISMS,
    Allocation,
    Mechanism,
    PaymentLedger,
    Selection,
    grand_marginals,
    make_mechanism,
    register_mechanism,
)
from market.metrics import (
    IRViolations,
    SybilResult,
    budget_balance,
    fairness_summary,
    free_rider_share,
    gini,
    ir_rate,
    ir_violations,
    jain_index,
    pearson,
    replicate,
    spearman,
    sybil_gain,
    sybil_gain_estimate,
    values_for,
)
from market.registry import Registry
from market.reputation import ReputationPolicy, ReputationState
from market.scoring import (
    BEST_METHOD,
    DEFAULT_BUDGET,
    DEFAULT_METHOD,
    METHODS,
    Estimator,
    ExactFirstBanzhaf,
    ExampleBanzhaf,
    banzhaf_from_table,
    cosine_contribution,
    estimate,
    make_estimator,
    register_estimator,
    shapley_from_table,
)
from market.valuation import (
    MAX_EXACT_PLAYERS,
    RoundValuation,
    banzhaf_msr,
    banzhaf_valuation,
    lower_bound,
    sample_coalitions,
)

__all__ = [
    "BEST_METHOD",
    "DEFAULT_BUDGET",
    "DEFAULT_METHOD",
    "DEFAULT_MECHANISM",
    "MAX_EXACT_PLAYERS",
    "MECHANISMS",
    "METHODS",
    "RoundValuation",
    "banzhaf_msr",
    "banzhaf_valuation",
    "lower_bound",
    "sample_coalitions",
    "Allocation",
    "BudgetExhausted",
    "Contribution",
    "ContributionLedger",
    "Game",
    "IRViolations",
    "Mechanism",
    "PaymentLedger",
    "Registry",
    "ReputationPolicy",
    "ReputationState",
    "Selection",
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
    "grand_marginals",
    "ir_rate",
    "ir_violations",
    "jain_index",
    "make_estimator",
    "register_estimator",
    "register_mechanism",
    "Estimator",
    "ExactFirstBanzhaf",
    "ExampleBanzhaf",
    "make_mechanism",
    "pearson",
    "replicate",
    "shapley_from_table",
    "spearman",
    "replica_groups",
    "free_rider_reasons",
    "sybil_gain",
    "sybil_gain_estimate",
    "values_for",
]
