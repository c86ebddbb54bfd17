"""The sections of a scenario: ``model``, ``data``, ``train``, ``privacy``, ``market``,
``economics``.

``model``, ``data`` and ``train`` *are* the ``fl_core`` configs (subclasses that add only
what the marketplace needs), so every bound of a training field lives in ``fl_core.config``
and nothing is copied by hand between the two. ``privacy`` and ``market`` are the
marketplace's own; their registry names (scoring method, mechanism) are checked against
``market``'s registries here, at construction.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from agents.scenario.errors import as_scenario_error, is_integer, is_number, require
from fl_core.config import DataConfig, ModelConfig, TrainConfig

TRUSTED_EVALUATOR = "trusted_evaluator"
ACCESS_MODES = ("plaintext", "secure_coalitions", TRUSTED_EVALUATOR)
DEPRECATED_ACCESS = {"secure_evaluator": TRUSTED_EVALUATOR}
"""Old access-mode names, accepted with a ``DeprecationWarning``."""
UTILITY_METRICS = ("accuracy", "neg_loss")
SELECTIONS = ("all", "auction")
UNSPENT = ("return", "carry")

MAX_ROUND_BUDGET = 1e12
"""Keeps ``rounds * round_budget`` and every payment sum finite."""


def canonical_access(access: str) -> str:
    """The access mode's current name; ``secure_evaluator`` warns and maps to
    ``trusted_evaluator`` (a trusted party, not cryptography)."""
    if access in DEPRECATED_ACCESS:
        warnings.warn(
            f"privacy.access = {access!r} is deprecated: use {DEPRECATED_ACCESS[access]!r} "
            "(a trusted evaluator that sees every plaintext update, e.g. a TEE)",
            DeprecationWarning,
            stacklevel=3,
        )
        return DEPRECATED_ACCESS[access]
    return access


@dataclass(frozen=True)
class ModelSection(ModelConfig):
    """Which network and how it is fine-tuned: exactly ``fl_core.ModelConfig``."""

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except ValueError as error:
            raise as_scenario_error("model", error) from None


@dataclass(frozen=True)
class DataSection(DataConfig):
    """``fl_core.DataConfig`` plus how the server scores coalitions.

    Attributes:
        utility_subset: validation examples (stratified) on which coalitions are scored.
        replace: draw participants' shards with replacement (automatic when the pool is too
            small for every shard).
    """

    utility_subset: int = 128
    replace: bool = False

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except ValueError as error:
            raise as_scenario_error("data", error) from None
        require(
            is_integer(self.utility_subset) and self.utility_subset >= 10,
            "data.utility_subset",
            f"must be an integer >= 10, got {self.utility_subset!r}",
        )


@dataclass(frozen=True)
class TrainSection(TrainConfig):
    """``fl_core.TrainConfig`` plus the server's screening of updates.

    Attributes:
        max_update_norm: updates with a larger L2 norm are rejected and paid nothing.
    """

    max_update_norm: float = 10.0

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except ValueError as error:
            raise as_scenario_error("train", error) from None
        require(
            is_number(self.max_update_norm) and self.max_update_norm > 0,
            "train.max_update_norm",
            f"must be > 0, got {self.max_update_norm!r}",
        )


@dataclass(frozen=True)
class PrivacySection:
    """Secure aggregation and how contribution scoring may see updates.

    ``access``: ``plaintext`` (the server sees every update), ``secure_coalitions`` (every
    coalition aggregate scoring needs is a secure-aggregation run over that subset; the leak
    audit reports who those releases expose) or ``trusted_evaluator`` (utilities are computed
    by a trusted party, e.g. a TEE, that holds every update; only scalars leave it: a trust
    assumption, not cryptography). ``secure_evaluator`` is the old name of the last.

    Secure aggregation is on by default, and ``access`` then defaults to the trusted
    evaluator (the server learns the round's total and scalar utilities, nothing finer);
    ``secure_aggregation = false`` gives ``plaintext``. ``access = "auto"`` (the default)
    makes that choice; it is resolved at construction.

    ``threat_model``: ``semi_honest`` (default: the server follows the protocol) or
    ``malicious`` (the server may deviate: signed keys under a PKI set up before each round and
    the consistency-check round of Bonawitz et al. 2017; see SECURITY.md).
    """

    secure_aggregation: bool = True
    access: str = "auto"
    threshold: float = 0.5
    neighbors: int = 0
    clip: float = 1.0
    bits: int = 32
    dropout_rate: float = 0.0
    threat_model: str = "semi_honest"

    def __post_init__(self) -> None:
        access = self.access
        if access == "auto":
            access = TRUSTED_EVALUATOR if self.secure_aggregation else "plaintext"
        object.__setattr__(self, "access", canonical_access(access))
        require(
            self.access in ACCESS_MODES,
            "privacy.access",
            f"{self.access!r} is not one of {ACCESS_MODES}",
        )
        require(
            self.secure_aggregation or self.access == "plaintext",
            "privacy.access",
            f"{self.access!r} needs privacy.secure_aggregation = true",
        )
        require(
            is_number(self.threshold) and 0 < self.threshold <= 1,
            "privacy.threshold",
            "the share of clients (or neighbours) needed to unmask must be in (0, 1], got "
            f"{self.threshold!r}",
        )
        require(
            is_integer(self.neighbors) and self.neighbors >= 0,
            "privacy.neighbors",
            f"0 for the complete graph (SecAgg), or a positive degree (SecAgg+), got "
            f"{self.neighbors!r}",
        )
        require(
            is_number(self.clip) and self.clip > 0,
            "privacy.clip",
            f"must be > 0, got {self.clip!r}",
        )
        require(self.bits in (32, 64), "privacy.bits", f"must be 32 or 64, got {self.bits!r}")
        require(
            is_number(self.dropout_rate) and 0 <= self.dropout_rate < 1,
            "privacy.dropout_rate",
            f"must be in [0, 1), got {self.dropout_rate!r}",
        )
        require(
            self.threat_model in ("semi_honest", "malicious"),
            "privacy.threat_model",
            f"must be 'semi_honest' or 'malicious', got {self.threat_model!r}",
        )


@dataclass(frozen=True)
class MarketSection:
    """Scoring, payment and trust.

    Attributes:
        scoring: a method of ``market.METHODS`` (default ``market.DEFAULT_METHOD``: exact
            Shapley when 2**n coalitions fit the budget, else unbiased sampling);
            ``scoring_budget``: its evaluations per round (``market.DEFAULT_BUDGET``).
        utility_metric: what a coalition's model is worth (``neg_loss`` or ``accuracy``).
        mechanism: a mechanism of ``market.MECHANISMS``; ``round_budget``: paid at most per round.
        reputation_threshold: exclude identities whose reputation falls below it (0: never).
        exploration, learning_rate: how participants decide to join (see ``participants``).
        full_budget_gain: for mechanisms that pay for validated value (``verified_value``),
            the lower-bound utility gain at which a round may pay its whole budget.
        confidence: for ``verified_value``, the one-sided confidence level at which a value
            counts as verified and a gain as validated, in (0.5, 1).
        incentive_power: for ``pooled_value``, the share of its own deviation from the
            pool's rate that a participant in the pool is credited, in [0, 1] (0: pay
            verified effort at the pool's rate only; 1: pay realised value).
        max_data_overlap: the data registry refuses an identity when at least this share
            of its examples was registered first by another identity (the same data under
            two identities, :mod:`privacy.commitments`); 1 turns the check off. Off anyway
            when the data are drawn with replacement.
        unspent: what a round does not pay is ``"return"``-ed to the platform or
            ``"carry"``-ed over to later rounds (which may then pay more than their budget
            for value they verify).
    """

    scoring: str = "adaptive"
    scoring_budget: int = 1024
    utility_metric: str = "neg_loss"
    mechanism: str = "pooled_value"
    round_budget: float = 100.0
    selection: str = "all"
    reputation_threshold: float = 0.0
    exploration: float = 0.1
    learning_rate: float = 0.5
    full_budget_gain: float = 0.05
    confidence: float = 0.95
    incentive_power: float = 0.2
    max_data_overlap: float = 0.5
    unspent: str = "return"

    def __post_init__(self) -> None:
        import market

        require(
            self.scoring in market.METHODS,
            "market.scoring",
            f"{self.scoring!r} is not one of {sorted(market.METHODS)}",
        )
        require(
            is_integer(self.scoring_budget) and self.scoring_budget >= 2,
            "market.scoring_budget",
            f"must be an integer >= 2, got {self.scoring_budget!r}",
        )
        require(
            self.utility_metric in UTILITY_METRICS,
            "market.utility_metric",
            f"{self.utility_metric!r} is not one of {UTILITY_METRICS}",
        )
        require(
            self.mechanism in market.MECHANISMS,
            "market.mechanism",
            f"{self.mechanism!r} is not one of {sorted(market.MECHANISMS)}",
        )
        require(
            is_number(self.round_budget) and self.round_budget > 0,
            "market.round_budget",
            f"must be > 0, got {self.round_budget!r}",
        )
        require(
            self.round_budget <= MAX_ROUND_BUDGET,
            "market.round_budget",
            f"must be at most {MAX_ROUND_BUDGET:g}, got {self.round_budget!r}",
        )
        require(
            self.selection in SELECTIONS,
            "market.selection",
            f"{self.selection!r} is not one of {SELECTIONS}",
        )
        require(
            is_number(self.reputation_threshold) and 0 <= self.reputation_threshold < 1,
            "market.reputation_threshold",
            f"must be in [0, 1) (0 never excludes), got {self.reputation_threshold!r}",
        )
        require(
            is_number(self.exploration) and 0 <= self.exploration <= 1,
            "market.exploration",
            f"must be in [0, 1], got {self.exploration!r}",
        )
        require(
            is_number(self.learning_rate) and 0 < self.learning_rate <= 1,
            "market.learning_rate",
            f"must be in (0, 1], got {self.learning_rate!r}",
        )
        require(
            is_number(self.full_budget_gain) and 0 < self.full_budget_gain < 1e6,
            "market.full_budget_gain",
            f"must be > 0 (the utility gain that earns a whole round budget), "
            f"got {self.full_budget_gain!r}",
        )
        require(
            is_number(self.confidence) and 0.5 < self.confidence < 1,
            "market.confidence",
            f"must be in (0.5, 1) (a one-sided confidence level), got {self.confidence!r}",
        )
        require(
            is_number(self.incentive_power) and 0 <= self.incentive_power <= 1,
            "market.incentive_power",
            f"must be in [0, 1] (the share of a participant's deviation from the pool that is "
            f"paid), got {self.incentive_power!r}",
        )
        require(
            is_number(self.max_data_overlap) and 0 < self.max_data_overlap <= 1,
            "market.max_data_overlap",
            f"must be in (0, 1] (1: no check), got {self.max_data_overlap!r}",
        )
        require(
            self.unspent in UNSPENT,
            "market.unspent",
            f"{self.unspent!r} is not one of {UNSPENT}",
        )


@dataclass(frozen=True)
class EconomicsSection:
    """What participating costs, what staying out is worth, and how participants learn.

    The defaults reproduce the original market: a fixed cost per round (the group's
    ``cost``), no outside option, the ``ema`` join rule, everyone in the market from round 1.

    Attributes:
        join_policy: how a participant decides to join (:mod:`agents.join_policies`):
            ``ema`` (a moving average of its own rewards against its cost), ``ewa``
            (experience-weighted attraction, Camerer & Ho 1999) or ``regret`` (regret
            matching, Hart & Mas-Colell 2000); the last two also learn from what joining
            would have paid (the platform's posted pay per metered example), and ignore
            ``market.exploration``.
        compute_price: cost per simulated second of training (``samples / speed``, on the
            owner's hardware): a slow participant pays more for the same work.
        data_price: cost per distinct example trained on (the data's opportunity cost).
        cost_spread: each identity's costs are multiplied by a private log-normal factor
            ``exp(N(0, cost_spread^2))`` drawn from the run's seed (0: no spread).
        reservation: the outside option of an owner, earned in every round it stays out
            (a Sybil owner's identities share it, as they share its cost).
        exit_after: an identity that lost money (pay below cost plus outside option) in this
            many consecutive rounds it joined leaves the market for good (0: never).
        entrants: the share of identities (drawn from the seed) that are not in the market
            at round 1 and arrive later; ``entry_rate``: each one's chance to arrive per round.
        value_per_accuracy: what one unit of test accuracy (1.0 = 100 points) is worth to
            society, in budget units; social welfare is its product with the accuracy gain
            less the costs and the outside options given up.
        ewa_phi, ewa_delta, ewa_rho, ewa_lambda: EWA's attraction decay, the weight of
            foregone payoffs, the experience decay and the logit sensitivity (per budget unit).
    """

    join_policy: str = "ema"
    compute_price: float = 0.0
    data_price: float = 0.0
    cost_spread: float = 0.0
    reservation: float = 0.0
    exit_after: int = 0
    entrants: float = 0.0
    entry_rate: float = 0.3
    value_per_accuracy: float = 1000.0
    ewa_phi: float = 0.9
    ewa_delta: float = 0.5
    ewa_rho: float = 0.9
    ewa_lambda: float = 0.3

    def __post_init__(self) -> None:
        from agents.join_policies import JOIN_POLICIES

        require(
            isinstance(self.join_policy, str) and self.join_policy in JOIN_POLICIES,
            "economics.join_policy",
            f"{self.join_policy!r} is not one of {sorted(JOIN_POLICIES)}",
        )
        for name in ("compute_price", "data_price", "reservation", "value_per_accuracy"):
            value = getattr(self, name)
            require(
                is_number(value) and 0 <= value <= MAX_ROUND_BUDGET,
                f"economics.{name}",
                f"must be in [0, {MAX_ROUND_BUDGET:g}], got {value!r}",
            )
        require(
            is_number(self.cost_spread) and 0 <= self.cost_spread <= 5,
            "economics.cost_spread",
            f"must be in [0, 5] (a log-normal sigma), got {self.cost_spread!r}",
        )
        require(
            is_integer(self.exit_after) and 0 <= self.exit_after <= 10_000,
            "economics.exit_after",
            f"must be an integer >= 0 (0: nobody leaves), got {self.exit_after!r}",
        )
        for name in ("entrants", "ewa_phi", "ewa_delta", "ewa_rho"):
            value = getattr(self, name)
            require(
                is_number(value) and 0 <= value <= 1,
                f"economics.{name}",
                f"must be in [0, 1], got {value!r}",
            )
        require(
            is_number(self.entry_rate) and 0 < self.entry_rate <= 1,
            "economics.entry_rate",
            f"must be in (0, 1], got {self.entry_rate!r}",
        )
        require(
            is_number(self.ewa_lambda) and 0 < self.ewa_lambda <= 100,
            "economics.ewa_lambda",
            f"must be in (0, 100] (logit sensitivity per budget unit), got {self.ewa_lambda!r}",
        )


SECTIONS: dict[str, type] = {
    "model": ModelSection,
    "data": DataSection,
    "train": TrainSection,
    "privacy": PrivacySection,
    "market": MarketSection,
    "economics": EconomicsSection,
}
"""Scenario sections by their TOML table name."""
