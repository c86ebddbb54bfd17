"""The run's ``summary``: one value per key (:func:`agents.run.summarize`).

Fairness keys (``fair_*``) are ``market.fairness_summary`` over each identity's totals over
the run (rewards and costs summed, contributions summed ignoring NaN), against the run's
whole budget (``market.round_budget x rounds``).
"""

from __future__ import annotations

from agents.columns.terms import BUDGET, EPSILON, IDENTITIES, SECONDS, SHARE, Column

CORRELATION = "-1 to 1"
INDEX_0_1 = "0-1"

SUMMARY: dict[str, Column] = {
    "fair_pearson": Column(
        "Pearson(reward, contribution)",
        CORRELATION,
        "Pearson correlation over identities of run reward and run contribution (1: pay follows "
        "value).",
    ),
    "fair_spearman": Column(
        "Spearman(reward, contribution)",
        CORRELATION,
        "Spearman rank correlation over identities of run reward and run contribution.",
    ),
    "fair_jain": Column(
        "Jain index of rewards",
        INDEX_0_1,
        "Jain's fairness index of the rewards, (sum x)^2 / (n sum x^2), in [1/n, 1] (NaN: "
        "nobody paid).",
    ),
    "fair_gini": Column(
        "Gini of rewards", INDEX_0_1, "Gini coefficient of the rewards (0: equal; NaN: none paid)."
    ),
    "fair_budget_balance": Column(
        "budget balance", SHARE, "Total paid over the run's whole budget (1: all spent)."
    ),
    "fair_free_rider_share": Column(
        "free-rider share of budget",
        SHARE,
        "Share of the run's whole budget paid to free_rider identities.",
    ),
    "fair_pearson_truth": Column(
        "Pearson(reward, true value)",
        CORRELATION,
        "Pearson correlation of rewards with true contributions; NaN in a run (no ground truth).",
    ),
    "fair_spearman_truth": Column(
        "Spearman(reward, true value)",
        CORRELATION,
        "Spearman correlation of rewards with true contributions; NaN in a run (no ground truth).",
    ),
    "fair_ir_violations": Column(
        "IR violations",
        IDENTITIES,
        "Identities that incurred a cost and were paid less than it over the run.",
    ),
    "fair_ir_shortfall": Column(
        "IR shortfall", BUDGET, "Sum of cost - reward over those identities."
    ),
    "fair_ir_rate": Column(
        "IR rate",
        SHARE,
        "Share of positive contributors (free riders left out) paid at least their cost.",
    ),
    "ir_rate_honest": Column(
        "IR rate (honest)",
        SHARE,
        "Share of honest identities that trained and were paid at least their cost over the "
        "run (NaN: none).",
    ),
    "initial_test_accuracy": Column(
        "initial test accuracy", SHARE, "Test accuracy of the initial model (round 0)."
    ),
    "final_test_accuracy": Column(
        "final test accuracy", SHARE, "Test accuracy of the model after the last round."
    ),
    "final_val_accuracy": Column(
        "final validation accuracy", SHARE, "Validation accuracy after the last round."
    ),
    "total_paid": Column("total paid", BUDGET, "Budget paid over all rounds."),
    "budget_share_paid": Column(
        "budget share paid", SHARE, "total_paid over the run's whole budget."
    ),
    "mean_participation": Column(
        "mean participation", SHARE, "Share of identities that joined, averaged over rounds."
    ),
    "ir_violation_rate": Column(
        "IR violation rate",
        SHARE,
        "Share of joined identity-rounds with a positive cost paid below it (NaN: nobody joined).",
    ),
    "rounds_aborted": Column(
        "rounds aborted", "rounds", "Rounds whose secure aggregation aborted."
    ),
    "exposed_clients_total": Column(
        "exposed clients (sum over rounds)",
        IDENTITIES,
        "exposed_clients of the rounds table, summed (an identity counts once per round).",
    ),
    "dp_epsilon": Column(
        "largest epsilon spent",
        EPSILON,
        "The largest epsilon any identity spent over the run (privacy.dp; 0: no DP).",
    ),
    "dp_epsilon_mean": Column(
        "mean epsilon spent",
        EPSILON,
        "The mean over identities of the epsilon each spent over the run (0: no DP).",
    ),
    "dp_delta": Column(
        "DP delta", "probability", "The delta every epsilon is reported at (0: no DP)."
    ),
    "exposed_clients_distinct": Column(
        "exposed clients (distinct)",
        IDENTITIES,
        "Distinct identities whose individual update the server could see in some round.",
    ),
    "server_reads_total": Column(
        "server reads (sum over rounds)", IDENTITIES, "server_reads summed over the rounds."
    ),
    "evaluator_reads_total": Column(
        "evaluator reads (sum over rounds)",
        IDENTITIES,
        "evaluator_reads summed over the rounds.",
    ),
    "server_smallest_group": Column(
        "smallest computable group",
        IDENTITIES,
        "The smallest group of clients whose summed update the server could compute in any "
        "round that included anyone (1: an update was seen alone; NaN: nobody included).",
    ),
    "server_smallest_group_at_least": Column(
        "smallest group (lower bound)",
        IDENTITIES,
        "Proven: no computable group in any round is smaller (NaN: nobody included).",
    ),
    "server_smallest_group_exact": Column(
        "smallest group exact",
        "1 or 0",
        "1.0 when the two meet (the run's minimum is certified), else 0.0.",
    ),
    "scoring_evaluations_total": Column(
        "scoring evaluations", "evaluations", "Coalition utilities evaluated over the run."
    ),
    "train_seconds": Column("training time", SECONDS, "Wall-clock training time, all rounds."),
    "scoring_seconds": Column("scoring time", SECONDS, "Wall-clock scoring time, all rounds."),
    "secagg_seconds": Column(
        "secure-aggregation time", SECONDS, "Wall-clock secure-aggregation time, all rounds."
    ),
    "sybil_gain_estimate": Column(
        "replication gain",
        BUDGET,
        "The best replication attack's payoff gain in a round, averaged over the rounds where "
        "it could be computed (NaN: none).",
    ),
    "excluded_final": Column(
        "excluded at the end", IDENTITIES, "Identities excluded by reputation after the last round."
    ),
    "accuracy_gain": Column("accuracy gain", SHARE, "final_test_accuracy - initial_test_accuracy."),
    "platform_utility": Column(
        "accuracy gain per budget unit",
        "accuracy/budget unit",
        "accuracy_gain / total_paid (NaN: nothing paid).",
    ),
    "social_welfare": Column(
        "social welfare",
        BUDGET,
        "economics.value_per_accuracy x accuracy_gain, less the costs of those who joined and "
        "the outside options they gave up.",
    ),
    "participant_surplus": Column(
        "participants' surplus",
        BUDGET,
        "Rewards of those who joined less their costs and the outside options they gave up.",
    ),
    "total_cost": Column(
        "total cost", BUDGET, "Costs of the identities that joined, summed over the run."
    ),
    "total_privacy_cost": Column(
        "total privacy cost",
        BUDGET,
        "The part of total_cost that prices the epsilon spent (economics.privacy_price).",
    ),
    "participation_group_<group>": Column(
        "participation of a group",
        SHARE,
        "Share of the group's identity-rounds in which it joined (one key per group).",
    ),
    "participation_<attribute>_<level>": Column(
        "participation by type",
        SHARE,
        "Share of the identities of one type that joined, averaged over rounds: attribute "
        "data_size, quality or compute, level low, mid or high (a tercile) or all.",
    ),
    "reward_share_<strategy>": Column(
        "reward share of a strategy",
        SHARE,
        "Share of the run's whole budget paid to the identities of one strategy.",
    ),
    "mean_profit_<strategy>": Column(
        "mean profit of a strategy",
        BUDGET,
        "Mean over the strategy's owners of run reward less run cost (a Sybil owner's "
        "identities summed).",
    ),
    "majority_test_rate": Column(
        "majority-class rate",
        SHARE,
        "Share of the test set in its most frequent class: the accuracy of always guessing it.",
    ),
}
