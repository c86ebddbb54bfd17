"""The sections of a scenario: ``model``, ``data``, ``train``, ``privacy``, ``market``,
``economics``.

``model``, ``data`` and ``train`` *are* the ``fl_core`` configs (subclasses that add only
what the marketplace needs), so every bound of a training field lives in ``fl_core.config``
and nothing is copied by hand between the two (their help: :mod:`agents.scenario.fl_fields`).
``privacy``, ``market`` and ``economics`` are the marketplace's own: each field is declared
with its help, bounds and choices (:func:`~agents.scenario.spec.setting`) and checked against
them at construction, registry names (scoring method, mechanism) against ``market``'s
registries. ``fedmarket fields`` lists them all.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.scenario.choices import (
    ACCESS,
    ACCESS_MODES,
    MECHANISM,
    SCORING,
    THREAT_MODELS,
    TRUSTED_EVALUATOR,
    UNSPENT,
    UTILITY_METRIC,
    UTILITY_METRICS,
)
from agents.scenario.dp_section import DPSection
from agents.scenario.errors import require
from agents.scenario.spec import check_fields, setting
from agents.scenario.training import DataSection, ModelSection, TrainSection

DEPRECATED_ACCESS = {"secure_evaluator": TRUSTED_EVALUATOR}
"""Old access-mode names, accepted with a ``DeprecationWarning``."""
REMOVED = {"market.selection": ("all", "auction")}
"""Fields that were removed, and the values old files may still give them (ignored with a
``FutureWarning``; any other value is an error)."""

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


def without_removed(section: str, table: Any) -> Any:
    """``table`` (a section of a TOML file) without the fields that were removed, each with a
    ``FutureWarning``; a removed field with a value it never took is a :class:`ScenarioError`."""
    if not isinstance(table, Mapping):
        return table  # build() says what is wrong
    kept = dict(table)
    for path, values in REMOVED.items():
        name, _, key = path.partition(".")
        if name != section or key not in kept:
            continue
        value = kept.pop(key)
        require(
            isinstance(value, str) and value in values,
            path,
            "must be deleted: the field was removed (it never changed a run; market.mechanism "
            f"picks who trains), got {value!r}",
        )
        warnings.warn(
            f"{path} = {value!r} is ignored: the field was removed (it never changed a run; "
            "market.mechanism picks who trains); delete the line",
            FutureWarning,
            stacklevel=4,
        )
    return kept


def _methods() -> tuple[str, ...]:
    import market

    return tuple(market.METHODS)


def _mechanisms() -> tuple[str, ...]:
    import market

    return tuple(market.MECHANISMS)


def _join_policies() -> tuple[str, ...]:
    from agents.join_policies import JOIN_POLICIES

    return tuple(JOIN_POLICIES)


@dataclass(frozen=True)
class PrivacySection:
    """Secure aggregation and how contribution scoring may see updates.

    Secure aggregation is on by default, and ``access`` then defaults to the trusted
    evaluator (the server learns the round's total and scalar utilities, nothing finer);
    ``secure_aggregation = false`` gives ``plaintext``. ``access = "auto"`` (the default)
    makes that choice; it is resolved at construction. ``secure_evaluator`` is the old name
    of ``trusted_evaluator``. The malicious threat model: SECURITY.md.
    """

    secure_aggregation: bool = setting(
        True,
        "The server learns only the sum of masked updates (SecAgg, Bonawitz et al. 2017; "
        "SecAgg+ with a neighbour graph, Bell et al. 2020).",
    )
    access: str = setting(
        "auto",
        "What contribution scoring sees: auto (trusted_evaluator under secure aggregation, "
        "else plaintext), or one of the modes below.",
        label="access mode",
        choices=ACCESS_MODES,
        choice_help=ACCESS,
    )
    threshold: float = setting(
        0.5,
        "Share of a client's neighbours needed to unmask after dropouts.",
        within="(0, 1]",
        label="unmask threshold",
    )
    neighbors: int = setting(
        0,
        "0: every pair shares keys (SecAgg); k > 0: each client shares keys with k neighbours "
        "(SecAgg+, cheaper).",
        within="[0, inf)",
        label="neighbours (0: all)",
        note="0: the complete graph, SecAgg; k > 0: the SecAgg+ degree",
    )
    clip: float = setting(
        1.0,
        "Each coordinate of an update is clipped to [-clip, clip] before it is quantised.",
        within="(0, inf)",
    )
    bits: int = setting(
        32, "Updates are masked in the ring of integers modulo 2^bits.", choices=(32, 64)
    )
    dropout_rate: float = setting(
        0.0, "Chance a client drops during the protocol.", within="[0, 1)"
    )
    threat_model: str = setting(
        "semi_honest",
        "semi_honest: the server follows the protocol. malicious: it may lie (substitute keys, "
        "tell clients different survivor sets); advertised keys are signed (Ed25519, keys from "
        "a trusted setup) and a consistency-check round runs (Bonawitz et al. 2017), so such a "
        "round aborts instead of unmasking anyone.",
        label="server threat model",
        choices=THREAT_MODELS,
    )
    dp: DPSection = field(default_factory=DPSection)
    """Differential privacy (the ``[privacy.dp]`` table)."""

    def __post_init__(self) -> None:
        access = self.access
        if access == "auto":
            access = TRUSTED_EVALUATOR if self.secure_aggregation else "plaintext"
        object.__setattr__(self, "access", canonical_access(access))
        check_fields(self, "privacy")
        require(
            self.secure_aggregation or self.access == "plaintext",
            "privacy.access",
            f"{self.access!r} needs privacy.secure_aggregation = true",
        )


@dataclass(frozen=True)
class MarketSection:
    """Scoring, payment and trust."""

    scoring: str = setting(
        "adaptive",
        "How each participant's contribution is measured: a method of market.METHODS.",
        label="scoring method",
        choices=_methods,
        choice_help=SCORING,
    )
    scoring_budget: int = setting(
        1024,
        "Utility evaluations per round the scoring may use; a method may need more (raised to "
        "its minimum) or fewer (exact needs only 2^n).",
        within="[2, inf)",
        label="scoring budget (requested)",
    )
    utility_metric: str = setting(
        "neg_loss",
        "What a coalition's model is worth.",
        choices=UTILITY_METRICS,
        choice_help=UTILITY_METRIC,
    )
    mechanism: str = setting(
        "pooled_value",
        "How the round budget is paid out: a mechanism of market.MECHANISMS.",
        choices=_mechanisms,
        choice_help=MECHANISM,
    )
    round_budget: float = setting(
        100.0,
        "Paid out at most per round (rewards and costs are in the same budget units).",
        within="(0, inf)",
        label="budget per round",
        unit="budget units",
        cap=MAX_ROUND_BUDGET,
    )
    reputation_threshold: float = setting(
        0.0,
        "Exclude identities whose reputation falls below this (0: never exclude).",
        within="[0, 1)",
        note="0 never excludes",
    )
    exploration: float = setting(
        0.1,
        "Chance that a participant joins a round regardless of what it learned (explores).",
        within="[0, 1]",
    )
    learning_rate: float = setting(
        0.5,
        "How fast a participant's expected profit follows what it earned.",
        within="(0, 1]",
        label="participants' learning rate",
    )
    full_budget_gain: float = setting(
        0.05,
        "verified_value: the lower-bound utility gain at which a round may pay its whole "
        "budget (less gain, proportionally less).",
        within="(0, 1e6)",
        note="the utility gain that earns a whole round budget",
    )
    confidence: float = setting(
        0.95,
        "verified_value: the one-sided confidence level at which a value counts as verified "
        "and a gain as validated.",
        within="(0.5, 1)",
        note="a one-sided confidence level",
    )
    incentive_power: float = setting(
        0.2,
        "pooled_value: the share of its own deviation from the pool's rate a participant is "
        "paid (0: verified effort at the pool's rate; 1: realised value).",
        within="[0, 1]",
    )
    max_data_overlap: float = setting(
        0.5,
        "The data registry refuses an identity when at least this share of its examples was "
        "registered first by another identity (the same data under two identities, "
        "privacy.commitments); 1 turns the check off, as do data drawn with replacement.",
        within="(0, 1]",
        note="1: no check",
    )
    unspent: str = setting(
        "return",
        "What a round does not pay: returned to the platform, or carried over to later rounds "
        "(which may then pay more than their budget for value they verify).",
        choices=UNSPENT,
    )

    def __post_init__(self) -> None:
        check_fields(self, "market")


@dataclass(frozen=True)
class EconomicsSection:
    """What participating costs, what staying out is worth, and how participants learn.

    The defaults reproduce the original market: a fixed cost per round (the group's
    ``cost``), no outside option, the ``ema`` join rule, everyone in the market from round 1.
    """

    join_policy: str = setting(
        "ema",
        "How a participant decides to join (agents.join_policies): ema (a moving average of "
        "its own rewards against its cost), ewa (experience-weighted attraction, Camerer & Ho "
        "1999) or regret (regret matching, Hart & Mas-Colell 2000); the last two also learn "
        "from what joining would have paid (the platform's posted pay per metered example), "
        "and ignore market.exploration.",
        choices=_join_policies,
    )
    compute_price: float = setting(
        0.0,
        "Cost per simulated second of training (samples / speed, on the owner's hardware): a "
        "slow participant pays more for the same work.",
        within=f"[0, {MAX_ROUND_BUDGET}]",
        unit="budget units/s",
    )
    data_price: float = setting(
        0.0,
        "Cost per distinct example trained on (the data's opportunity cost).",
        within=f"[0, {MAX_ROUND_BUDGET}]",
        unit="budget units/example",
    )
    cost_spread: float = setting(
        0.0,
        "Each identity's costs are multiplied by a private log-normal factor "
        "exp(N(0, cost_spread^2)) drawn from the run's seed (0: no spread).",
        within="[0, 5]",
        note="a log-normal sigma",
    )
    privacy_price: float = setting(
        0.0,
        "Each owner's private price per unit of epsilon it spends under privacy.dp (its "
        "privacy sensitivity), on average: part of its cost of joining and of its bid; "
        "value-based mechanisms do not pay it, the auction reimburses it at the threshold "
        "price (0: privacy costs nothing).",
        within=f"[0, {MAX_ROUND_BUDGET}]",
        unit="budget units/epsilon",
        note="0: off",
    )
    privacy_price_spread: float = setting(
        0.0,
        "Each owner's privacy price is privacy_price times a private log-normal factor "
        "exp(N(-s^2/2, s^2)) of mean 1, s = this, drawn from the run's seed (0: one price for "
        "all).",
        within="[0, 5]",
        note="a log-normal sigma",
    )
    reservation: float = setting(
        0.0,
        "The outside option of an owner, earned in every round it stays out (a Sybil owner's "
        "identities share it, as they share its cost).",
        within=f"[0, {MAX_ROUND_BUDGET}]",
        unit="budget units/round",
    )
    exit_after: int = setting(
        0,
        "An identity that lost money (pay below cost plus outside option) in this many "
        "consecutive rounds it joined leaves the market for good (0: never).",
        within="[0, 10000]",
        note="0: nobody leaves",
    )
    entrants: float = setting(
        0.0,
        "The share of identities (drawn from the seed) that are not in the market at round 1 "
        "and arrive later.",
        within="[0, 1]",
    )
    entry_rate: float = setting(
        0.3, "Each late entrant's chance to arrive per round.", within="(0, 1]"
    )
    value_per_accuracy: float = setting(
        1000.0,
        "What one unit of test accuracy (1.0 = 100 points) is worth to society; social "
        "welfare is its product with the accuracy gain less the costs and the outside options "
        "given up.",
        within=f"[0, {MAX_ROUND_BUDGET}]",
        unit="budget units",
    )
    ewa_phi: float = setting(0.9, "EWA's attraction decay.", within="[0, 1]")
    ewa_delta: float = setting(0.5, "EWA's weight of foregone payoffs.", within="[0, 1]")
    ewa_rho: float = setting(0.9, "EWA's experience decay.", within="[0, 1]")
    ewa_lambda: float = setting(
        0.3,
        "EWA's logit sensitivity (per budget unit).",
        within="(0, 100]",
        note="logit sensitivity per budget unit",
    )

    def __post_init__(self) -> None:
        check_fields(self, "economics")


SECTIONS: dict[str, type] = {
    "model": ModelSection,
    "data": DataSection,
    "train": TrainSection,
    "privacy": PrivacySection,
    "market": MarketSection,
    "economics": EconomicsSection,
}
"""Scenario sections by their TOML table name."""

NESTED: dict[str, type] = {"privacy.dp": DPSection}
"""Tables inside a section (``[privacy.dp]``), by dotted path."""
