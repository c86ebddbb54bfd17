"""The ``rounds`` table: one row per round (:class:`agents.reports.RoundRecord`)."""

from __future__ import annotations

from agents.columns.terms import (
    BUDGET,
    BYTES,
    EPSILON,
    FLAG,
    IDENTITIES,
    INDEX,
    NATS,
    SECONDS,
    SHARE,
    TEXT,
    Column,
)

ROUNDS: dict[str, Column] = {
    "round": Column("round", INDEX, "The round; 0 is the initial model, before any training."),
    "val_accuracy": Column(
        "validation accuracy", SHARE, "Accuracy of the global model on the server's validation set."
    ),
    "val_loss": Column(
        "validation loss", NATS, "Mean cross-entropy of the global model on the validation set."
    ),
    "test_accuracy": Column(
        "test accuracy", SHARE, "Accuracy of the global model on the held-out test set."
    ),
    "test_loss": Column(
        "test loss", NATS, "Mean cross-entropy of the global model on the test set."
    ),
    "available": Column("available", IDENTITIES, "Identities in the market and online this round."),
    "joined": Column(
        "joined", IDENTITIES, "Identities whose join policy chose to take part this round."
    ),
    "selected": Column(
        "selected",
        IDENTITIES,
        "Identities the mechanism's selection phase let train (not excluded by reputation, "
        "not outbid in an auction).",
    ),
    "stragglers": Column(
        "stragglers",
        IDENTITIES,
        "Selected identities too slow to process train.min_samples before the deadline.",
    ),
    "rejected": Column(
        "rejected",
        IDENTITIES,
        "Identities whose update the server's screen refused (norm, free-rider or data checks).",
    ),
    "dropouts": Column(
        "dropouts",
        IDENTITIES,
        "Accepted identities that dropped out during the secure-aggregation protocol.",
    ),
    "included": Column(
        "included", IDENTITIES, "Identities whose update is in the round's aggregate."
    ),
    "aborted": Column(
        "aborted", FLAG, "The secure-aggregation round aborted: the model did not change."
    ),
    "abort_reason": Column(
        "abort reason", TEXT, "The abort's typed reason code (too_few_survivors, ...); empty: none."
    ),
    "abort_message": Column("abort message", TEXT, "The abort's one-line message; empty: none."),
    "budget_paid": Column("budget paid", BUDGET, "What the mechanism paid out this round."),
    "costs_incurred": Column(
        "costs incurred",
        BUDGET,
        "Participants' true (private) costs this round, summed over identities.",
    ),
    "posted_rate": Column(
        "posted rate",
        "budget units/example",
        "Pay per metered example of the included identities, as the platform posts it (NaN: "
        "nobody metered).",
    ),
    "scoring_method": Column(
        "scoring method", TEXT, "The contribution-scoring method (market.scoring)."
    ),
    "scoring_evaluations": Column(
        "scoring evaluations",
        "evaluations",
        "Distinct coalition utilities evaluated this round (the mechanism's own valuation "
        "included).",
    ),
    "exposed_clients": Column(
        "exposed clients",
        IDENTITIES,
        "Identities whose individual update the server could see this round (read in the clear "
        "or isolated by the released coalition sums).",
    ),
    "smallest_group": Column(
        "smallest group",
        IDENTITIES,
        "Size of a group of clients whose summed update the server could compute (1: one "
        "client's update was revealed; 0: nothing scored).",
    ),
    "smallest_group_at_least": Column(
        "smallest group (lower bound)",
        IDENTITIES,
        "Proven lower bound: no computable group of clients is smaller.",
    ),
    "smallest_group_exact": Column(
        "smallest group exact",
        FLAG,
        "smallest_group equals its lower bound (false: nothing was scored).",
    ),
    "secagg_bytes": Column(
        "secure-aggregation bytes", BYTES, "Bytes the aggregation's secure protocol sent."
    ),
    "plain_bytes": Column(
        "plaintext bytes",
        BYTES,
        "Bytes the accepted updates take as dense float32 vectors (the baseline without "
        "secure aggregation).",
    ),
    "bytes_sent": Column(
        "bytes sent", BYTES, "Update payloads the clients sent, under train.compression."
    ),
    "secagg_seconds": Column(
        "secure-aggregation time", SECONDS, "Wall-clock time of the aggregation's protocol."
    ),
    "scoring_secagg_runs": Column(
        "scoring secure-aggregation runs",
        "runs",
        "Secure-aggregation runs over coalitions that scoring needed "
        "(privacy.access = secure_coalitions).",
    ),
    "scoring_secagg_bytes": Column(
        "scoring secure-aggregation bytes", BYTES, "Bytes those coalition runs sent."
    ),
    "train_seconds": Column("training time", SECONDS, "Wall-clock time of local training."),
    "scoring_seconds": Column("scoring time", SECONDS, "Wall-clock time of contribution scoring."),
    "sybil_gain_max": Column(
        "best replication gain",
        BUDGET,
        "The largest payoff gain any participant would have had from replicating its update "
        "under another identity (NaN: not computable this round).",
    ),
    "server_reads": Column(
        "server reads",
        IDENTITIES,
        "Distinct clients whose individual update the server read this round.",
    ),
    "evaluator_reads": Column(
        "evaluator reads",
        IDENTITIES,
        "Distinct clients whose update the trusted evaluator read (privacy.access).",
    ),
    "dp_noise_std": Column(
        "DP noise share std",
        "update units",
        "Std of the Gaussian noise share each included client added to every sum released "
        "this round (privacy.dp; 0: no DP). A sum of t clients carries noise_multiplier x "
        "clip or more.",
    ),
    "dp_releases": Column(
        "DP releases",
        "sums",
        "Noised sums released this round: the model's, and each coalition sum scoring "
        "evaluated (0: no DP).",
    ),
    "dp_epsilon": Column(
        "largest epsilon spent",
        EPSILON,
        "The largest epsilon any identity has spent so far, accounted from the round's "
        "releases (privacy.dp; 0: no DP).",
    ),
    "round_seconds": Column("round time", SECONDS, "Wall-clock time of the whole round."),
    "overhead_seconds": Column(
        "overhead time",
        SECONDS,
        "The round's time outside training, scoring and secure aggregation (screening, "
        "payment, learning; evaluation excluded).",
    ),
}
