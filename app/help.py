"""The explorer's words: help text for every scenario choice, in one place (no streamlit).

Each text is one or two sentences a researcher can act on; the Scenario page shows them as
widget help (the "?" next to a field) and the Results page reuses the mechanism rules to say
why a group earned what it did.
"""

from __future__ import annotations

#: What each contribution-scoring method does (``market.scoring``).
SCORING: dict[str, str] = {
    "adaptive": "Exact Shapley values when all 2^n coalitions fit the budget; else, from 11 to "
    "20 participants, the surrogate's unbiased control-variate sampler, and antithetic "
    "permutation sampling above. The default.",
    "exact": "Shapley values from every coalition (2^n utility evaluations; small n only).",
    "permutation": "Monte-Carlo Shapley: average marginal gains over random orderings.",
    "tmc": "Truncated Monte Carlo Shapley (Ghorbani & Zou 2019): stops a permutation once the "
    "remaining gain is below a tolerance.",
    "gtg": "Guided truncated gradient Shapley (Liu et al. 2022): re-uses round updates, cheap.",
    "loo": "Leave-one-out: the utility lost when a participant is removed (n + 1 evaluations).",
    "banzhaf": "Banzhaf values (Wang & Jia 2023): every coalition weighted equally; robust to "
    "noisy utilities.",
    "surrogate": "A regression surrogate of the utility fitted on sampled coalitions.",
    "cgsv": "Cosine-gradient Shapley approximation (Xu et al. 2021): similarity to the "
    "aggregate, no extra evaluations.",
}

#: The payment rule of each mechanism (``market.mechanism``), in one line.
MECHANISM: dict[str, str] = {
    "pooled_value": "Covers metered costs, then pays verified effort at the pool's rate plus a "
    "fifth of one's own deviation (Banzhaf), from a pot tied to the validated gain; harm is "
    "held, never paid. The default.",
    "banzhaf_cover": "Covers the metered cost of every positive contributor (replicas once), "
    "then splits the surplus by grand-coalition marginals.",
    "verified_value": "A pot tied to the validated gain, paid once an identity's cumulative "
    "Banzhaf value is significantly positive (held until then).",
    "proportional": "Splits the whole budget in proportion to max(contribution, 0); costs "
    "are not covered, so a low contributor can earn less than it spends.",
    "shapley_fair": "Covers the cost of every positive contributor, then splits the surplus "
    "in proportion to the Shapley value.",
    "reputation": "Weights payments by each identity's beta reputation; excluded identities "
    "get nothing.",
    "auction": "A budget-feasible reverse auction (Singer 2010): bidders below the price "
    "train; payment is released against delivery.",
    "flat": "Splits the budget equally among everyone who joined: the baseline, which pays "
    "free riders a full share.",
}

#: What each access mode lets the server (or the scorer) see (``privacy.access``).
ACCESS: dict[str, str] = {
    "plaintext": "The server reads every update in the clear to screen, group replicas and "
    "score: every client that sent an update is exposed, rejected ones included.",
    "secure_coalitions": "Every coalition aggregate that scoring needs is its own "
    "secure-aggregation run; the server learns those sums and never reads an update, so the "
    "free-rider screen and replica grouping are off and each client checks its own update. "
    "A coalition of one client releases that client's update, so exact Shapley (which scores "
    "singletons) still exposes clients: pick an estimator that avoids small coalitions to "
    "expose fewer.",
    "trusted_evaluator": "A trusted party (e.g. a TEE) holds every plaintext update, screens "
    "and scores them, and returns only verdicts and utilities: nothing is exposed to the "
    "server, but this is a trust assumption, not cryptography.",
}

#: The caveat shown next to the exposure chart when the trusted evaluator is used.
TRUSTED_EVALUATOR_CAVEAT = (
    "Access mode **trusted_evaluator**: zero exposed clients means the *server* saw no "
    "individual update. A trusted party (such as a TEE) still holds every plaintext update "
    "(the rounds table's `evaluator_reads` counts them); that is a trust assumption, not "
    "cryptography."
)

UTILITY_METRIC: dict[str, str] = {
    "neg_loss": "Minus the validation loss of a coalition's model: smooth, so small "
    "contributions still register.",
    "accuracy": "Validation accuracy of a coalition's model: easy to read, but flat for small "
    "changes.",
}

SELECTION: dict[str, str] = {
    "all": "Everyone who is available and not excluded trains.",
    "auction": "A reverse auction picks who trains (used by the auction mechanism).",
}

AGGREGATOR = (
    "How the server combines updates: fedavg (weighted mean), or a robust rule (median, "
    "trimmed mean, Krum...) that resists poisoners."
)

#: Widget help by scenario path (the fields without a list of choices).
FIELD: dict[str, str] = {
    "name": "A label for the scenario (file names, chart titles).",
    "rounds": "Federated rounds to simulate.",
    "seed": "Seeds every random choice (data split, availability, sampling): same seed, same run.",
    "model.mode": "head: frozen embeddings and a federated linear head (fast); lora: LoRA "
    "adapters inside the transformer (real fine-tuning, slower).",
    "model.backbone": "minilm: all-MiniLM-L6-v2; smollm2: the SmolLM2-135M decoder (slower on a "
    "CPU: head mode recommended); tiny / tiny_causal: 2-layer random BERT / Llama (for tests).",
    "data.val_size": "Validation examples held by the server (for model selection and scoring).",
    "data.test_fraction": "Share of the pool kept as the test set.",
    "data.utility_subset": "Validation examples (stratified) on which coalitions are scored: "
    "fewer is faster but noisier.",
    "data.replace": "Draw participants' shards with replacement (automatic when the pool is "
    "too small).",
    "train.lr": "Local learning rate (empty: the mode's default).",
    "train.local_epochs": "Local epochs per round (empty: the mode's default).",
    "train.batch_size": "Local mini-batch size.",
    "train.aggregator": AGGREGATOR,
    "train.trim_fraction": "Share trimmed at each end by the trimmed-mean aggregator.",
    "train.max_update_norm": "Updates with a larger L2 norm are rejected and paid nothing.",
    "train.prox_mu": "FedProx proximal term (0: plain FedAvg local training).",
    "train.deadline_s": "A participant slower than this (simulated seconds) is a straggler.",
    "market.scoring_budget": "Utility evaluations per round the scoring may use; a method "
    "may need more (raised to its minimum) or fewer (exact needs only 2^n).",
    "market.round_budget": "Budget units paid out at most per round (rewards and costs are in "
    "the same budget units).",
    "market.reputation_threshold": "Exclude identities whose reputation falls below this "
    "(0: never exclude).",
    "market.exploration": "Chance that a participant joins a round regardless of what it "
    "learned (explores).",
    "market.learning_rate": "How fast a participant's expected profit follows what it earned.",
    "market.full_budget_gain": "verified_value: the validated utility gain at which a round "
    "may pay its whole budget (less gain, proportionally less).",
    "market.confidence": "verified_value: the one-sided confidence level at which a value "
    "counts as verified and a gain as validated.",
    "market.incentive_power": "pooled_value: the share of its own deviation from the pool's "
    "rate a participant is paid (0: verified effort at the pool's rate; 1: realised value).",
    "market.unspent": "What a round does not pay: returned to the platform, or carried over "
    "to later rounds.",
    "privacy.secure_aggregation": "The server learns only the sum of masked updates "
    "(SecAgg, Bonawitz et al. 2017; SecAgg+ with a neighbour graph, Bell et al. 2020).",
    "privacy.neighbors": "0: every pair shares keys (SecAgg); k > 0: each client shares keys "
    "with k neighbours (SecAgg+, cheaper).",
    "privacy.threshold": "Share of a client's neighbours needed to unmask after dropouts.",
    "privacy.dropout_rate": "Chance a client drops during the protocol.",
    "privacy.threat_model": "semi_honest: the server follows the protocol. malicious: it may "
    "lie (substitute keys, tell clients different survivor sets); advertised keys are signed "
    "(Ed25519, keys from a trusted setup) and a consistency-check round runs (Bonawitz et al. "
    "2017), so such a round aborts instead of unmasking anyone.",
}

#: What each attack of ``agents.attacks.ATTACKS`` does, in one line (the Exploitability page).
ATTACK: dict[str, str] = {
    "free_ride_zero": "Joins and is paid but trains nothing: sends a zero update.",
    "free_ride_stale": "Trains nothing: sends back its previous round's update.",
    "free_ride_disguised": "Trains nothing: sends small random noise shaped like a real update.",
    "underbid_cost": "Reports a cost of 0.2x its true cost (to win an auction).",
    "overbid_cost": "Reports 3x its true cost (to have a larger cost covered).",
    "inflate_size": "Claims 3x the data it holds (only the auction reads declared sizes).",
    "sybil_split": "Splits its data over 3 identities, each paid separately.",
    "sybil_replicate": "Sends the same update from 3 identities (replicas of one another).",
    "sign_flip": "Poisons: sends its honest update times -1.",
    "boost_x3": "Boosts: sends its honest update times 3 to dominate the average.",
    "label_flip": "Trains on flipped labels (every label wrong).",
    "collude": "3 owners send near-copies of one update (noise 0.2) to inflate its value.",
    "copycat": "Trains nothing: sends a peer's last update plus 5% noise.",
    "replay_old": "Trains nothing: replays the global step of 2 rounds back, rescaled, +10% noise.",
    "plagiarist": "Trains honestly on a copy of another participant's data.",
    "lazy": "Trains 16 samples a round instead of its full compute (and pays for 16).",
    "size_misreport": "Claims 3x the data it holds.",
    "cost_misreport": "Reports 3x its true cost.",
    "complementary_split": "Splits its data by class over 3 identities (pieces that only "
    "help together).",
    "subtle_poisoner": "Sends its honest update times -0.3.",
    "late_joiner": "Joins only from round 3, when the model has learned most of what it will.",
}
