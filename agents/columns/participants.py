"""The ``participants`` table: one row per identity per round (``PARTICIPANT_COLUMNS``)."""

from __future__ import annotations

from agents.columns.terms import BUDGET, EPSILON, FLAG, INDEX, SHARE, TEXT, UTILITY, Column

PARTICIPANTS: dict[str, Column] = {
    "round": Column("round", INDEX, "The round (0: the initial state, before anyone joined)."),
    "participant": Column("participant", INDEX, "The identity's id, as the platform sees it."),
    "owner": Column(
        "owner", INDEX, "The owner behind the identity (a Sybil owner has several identities)."
    ),
    "group": Column("group", TEXT, "The scenario's participant group ([participants.NAME])."),
    "strategy": Column("strategy", TEXT, "How the group plays (participants.*.strategy)."),
    "available": Column("available", FLAG, "In the market and online this round."),
    "joined": Column("joined", FLAG, "Its join policy chose to take part this round."),
    "selected": Column("selected", FLAG, "The mechanism's selection phase let it train."),
    "included": Column("included", FLAG, "Its update is in the round's aggregate."),
    "exposed": Column("exposed", FLAG, "The server could see its individual update this round."),
    "straggler": Column(
        "straggler", FLAG, "Selected but too slow to process train.min_samples in time."
    ),
    "dropped_stage": Column(
        "dropped at", TEXT, "The secure-aggregation stage it dropped out at (empty: none)."
    ),
    "rejected_reason": Column(
        "rejected because",
        TEXT,
        "Why the platform refused it or its update this round (empty: it was not).",
    ),
    "n_examples": Column("examples held", "examples", "Training examples in its shard."),
    "n_synthetic": Column(
        "synthetic examples",
        "examples",
        "Of those, examples the foundation model wrote (participants.*.synthetic_examples).",
    ),
    "speed": Column("speed", "samples/s", "Samples it trains per (simulated) second."),
    "quality": Column("label quality", SHARE, "Share of its labels that are right."),
    "in_market": Column(
        "in market", FLAG, "Arrived and not yet left, as the round starts (economics)."
    ),
    "samples": Column("samples trained", "samples", "Samples it trained on this round."),
    "contribution": Column(
        "contribution",
        UTILITY,
        "Its contribution score this round, in the unit of market.utility_metric (NaN: not "
        "scored).",
    ),
    "reward": Column("reward", BUDGET, "What the mechanism paid it this round."),
    "cost": Column(
        "cost",
        BUDGET,
        "What training cost it this round (its true, private cost; privacy_cost included).",
    ),
    "profit": Column("profit", BUDGET, "reward - cost this round."),
    "cumulative_profit": Column(
        "cumulative profit", BUDGET, "Rewards less costs over the rounds so far."
    ),
    "expected_reward": Column(
        "expected reward", BUDGET, "What its join policy now expects joining to pay."
    ),
    "reputation": Column(
        "reputation", SHARE, "Its beta reputation with the platform after the round."
    ),
    "excluded": Column("excluded", FLAG, "Its reputation fell below market.reputation_threshold."),
    "payment_value": Column(
        "payment value",
        UTILITY,
        "The value the mechanism paid on (its own valuation where it has one, else the "
        "contribution; NaN: not scored).",
    ),
    "dp_clip_factor": Column(
        "DP clip factor",
        SHARE,
        "The share of privacy.dp.clip its update is held to (its epsilon-menu choice; 1 "
        "without one).",
    ),
    "dp_epsilon_round": Column(
        "epsilon this round",
        EPSILON,
        "The epsilon of this round's noised releases alone, for this identity (privacy.dp; 0: "
        "no DP or not included).",
    ),
    "dp_epsilon": Column(
        "epsilon spent",
        EPSILON,
        "Its epsilon so far: the Gaussian releases of every round it was in, composed "
        "exactly (privacy.dp; dp-accounting).",
    ),
    "privacy_price": Column(
        "privacy price",
        "budget units/epsilon",
        "Its private price per unit of epsilon spent (economics.privacy_price and "
        "privacy_price_spread; the platform never sees it).",
    ),
    "privacy_cost": Column(
        "privacy cost",
        BUDGET,
        "Its privacy price times the increase of its epsilon this round (part of cost; 0: no "
        "DP, price 0, not included, or it does not train).",
    ),
}
