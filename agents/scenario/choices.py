"""The names a scenario field may take, and one line on each (read by the field specs).

The registries (scoring methods, mechanisms, join policies, aggregators) live with their
code; what each built-in one does, in a line a researcher can act on, lives here, next to the
scenario's own vocabularies (strategies, access modes, ...).
"""

from __future__ import annotations

FREE_RIDE = ("zero", "stale", "disguised")
SYBIL_MODES = ("split", "replicate", "complementary")
TRUSTED_EVALUATOR = "trusted_evaluator"
ACCESS_MODES = ("plaintext", "secure_coalitions", TRUSTED_EVALUATOR)
THREAT_MODELS = ("semi_honest", "malicious")
UTILITY_METRICS = ("accuracy", "neg_loss")
UNSPENT = ("return", "carry")

STRATEGY: dict[str, str] = {
    "honest": "Trains on its own data and sends the update.",
    "free_rider": "Joins and is paid but does not train (see free_ride).",
    "noisy": "Trains on flipped labels (flip_rate).",
    "poisoner": "Sends a scaled or sign-flipped update (poison_scale).",
    "sybil": "Splits or replicates its data over several identities (sybil_identities, "
    "sybil_mode).",
    "colluder": "The group's owners pool their data, one trains, all send near-copies of that "
    "update (copy_noise).",
    "copycat": "Sends a peer's previous update plus copy_noise, without training.",
    "replay": "Sends the global step of replay_lag rounds back, rescaled to the last step's "
    "norm, plus copy_noise.",
    "plagiarist": "Trains honestly on a copy of the first owner's data.",
    "lazy": "Trains lazy_samples samples only (its cost scales down with them).",
}

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
"""What each contribution-scoring method does (``market.scoring``)."""

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
"""The payment rule of each mechanism (``market.mechanism``), in one line."""

ACCESS: dict[str, str] = {
    "plaintext": "The server reads every update in the clear to screen, group replicas and "
    "score: every client that sent an update is exposed, rejected ones included.",
    "secure_coalitions": "Every coalition aggregate that scoring needs is its own "
    "secure-aggregation run; the server learns those sums and never reads an update, so the "
    "free-rider screen and replica grouping are off and each client checks its own update. "
    "A coalition of one client releases that client's update, so exact Shapley (which scores "
    "singletons) still exposes clients: pick an estimator that avoids small coalitions to "
    "expose fewer.",
    TRUSTED_EVALUATOR: "A trusted party (e.g. a TEE) holds every plaintext update, screens "
    "and scores them, and returns only verdicts and utilities: nothing is exposed to the "
    "server, but this is a trust assumption, not cryptography.",
}
"""What each access mode lets the server (or the scorer) see (``privacy.access``)."""

UTILITY_METRIC: dict[str, str] = {
    "neg_loss": "Minus the validation loss of a coalition's model: smooth, so small "
    "contributions still register.",
    "accuracy": "Validation accuracy of a coalition's model: easy to read, but flat for small "
    "changes.",
}
"""What a coalition's model is worth (``market.utility_metric``)."""
