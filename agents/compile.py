"""Compile a :class:`~agents.scenario.Scenario` once into a :class:`RunPlan` of typed parts.

The scenario is plain, validated data; the plan is what a run executes: the ``fl_core``
configs, the ``market`` estimator, mechanism and reputation policy, the ``fl_core``
aggregator, the secure-aggregation parameters, and one :class:`IdentitySpec` per identity
the platform will see. Compiling imports no torch and draws no random numbers: the same
scenario always compiles to the same plan, and the model only has to execute it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from agents.scenario import ParticipantGroup, Scenario

Aggregator = Callable[[Sequence[np.ndarray], Sequence[float]], np.ndarray]
"""``(deltas, weights) -> aggregate delta``."""


@dataclass(frozen=True)
class IdentitySpec:
    """One identity the platform sees.

    Attributes:
        pid: identity number ``0 .. n_identities - 1``.
        owner: the data owner behind it (a Sybil owner has several identities).
        group: the owner's participant group.
        part, parts: this identity's share of the owner's data (``part`` of ``parts``).
        speed, cost: the owner's compute and cost, split evenly over its identities.
    """

    pid: int
    owner: int
    group: ParticipantGroup
    part: int
    parts: int
    speed: float
    cost: float


@dataclass(frozen=True)
class SecAggConfig:
    """Secure-aggregation parameters of every round (``None`` in a plan: plaintext)."""

    threshold_share: float
    neighbors: int
    clip: float
    bits: int
    dropout_rate: float
    threat_model: str = "semi_honest"

    def secure_sum_options(self) -> dict[str, Any]:
        """Keyword arguments of ``agents.access.secure_sum`` / ``coalition_aggregator``."""
        return {
            "threshold_share": self.threshold_share,
            "neighbors": self.neighbors,
            "clip": self.clip,
            "bits": self.bits,
            "dropout_rate": self.dropout_rate,
            "threat_model": self.threat_model,
        }


@dataclass(frozen=True)
class RunPlan:
    """What a run executes, built once from a scenario by :func:`compile_scenario`.

    Attributes:
        scenario: the source.
        owners: one group per data owner, in order.
        identities: every identity the platform sees, by ``pid``.
        estimator: the ``market`` contribution estimator; ``scoring_budget`` its request.
        mechanism: the ``market`` reward mechanism (its selection phase and payments).
        reputation: the ``market`` reputation policy (evidence, forgetting, exclusion).
        aggregator: the server's aggregation rule for plaintext updates.
        access: how scoring reaches coalition utilities (``plaintext`` without secure
            aggregation).
        secagg: secure-aggregation parameters, ``None`` when updates travel in the clear.
    """

    scenario: Scenario
    owners: tuple[ParticipantGroup, ...]
    identities: tuple[IdentitySpec, ...]
    estimator: Any
    scoring_budget: int
    mechanism: Any
    reputation: Any
    aggregator: Aggregator
    access: str
    secagg: SecAggConfig | None

    @property
    def n_identities(self) -> int:
        return len(self.identities)

    @property
    def prior_reward(self) -> float:
        """A newcomer's expected reward: an even share of the round budget."""
        return self.scenario.market.round_budget / self.n_identities


def _identities(owners: Sequence[ParticipantGroup]) -> tuple[IdentitySpec, ...]:
    out: list[IdentitySpec] = []
    for owner, group in enumerate(owners):
        heads = group.identities
        # a replicating Sybil shows all its data under every identity (and trains once)
        parts = 1 if group.strategy == "sybil" and group.sybil_mode == "replicate" else heads
        for part in range(heads):
            out.append(
                IdentitySpec(
                    pid=len(out),
                    owner=owner,
                    group=group,
                    part=part % parts,
                    parts=parts,
                    speed=group.speed / parts,
                    cost=group.cost / parts,
                )
            )
    return tuple(out)


def compile_scenario(scenario: Scenario) -> RunPlan:
    """The plan of ``scenario``: every component built once, nothing drawn at random.

    The scenario's budget (:func:`agents.scenario.limits.check_budget`: identities, examples,
    estimated peak memory) is checked again first, under the memory limit in force now.
    """
    import market
    from agents.scenario.limits import check_budget
    from fl_core.aggregation import make_aggregator

    check_budget(scenario)  # before one identity or shard is built

    privacy = scenario.privacy
    secagg = None
    if privacy.secure_aggregation:
        secagg = SecAggConfig(
            threshold_share=privacy.threshold,
            neighbors=privacy.neighbors,
            clip=privacy.clip,
            bits=privacy.bits,
            dropout_rate=privacy.dropout_rate,
            threat_model=privacy.threat_model,
        )
    owners = tuple(g for g in scenario.participants for _ in range(g.count))
    return RunPlan(
        scenario=scenario,
        owners=owners,
        identities=_identities(owners),
        estimator=market.make_estimator(scenario.market.scoring),
        scoring_budget=scenario.market.scoring_budget,
        mechanism=_mechanism(scenario),
        reputation=market.ReputationPolicy(threshold=scenario.market.reputation_threshold),
        aggregator=make_aggregator(
            scenario.train.aggregator, **scenario.train.aggregator_options()
        ),
        access=privacy.access if privacy.secure_aggregation else "plaintext",
        secagg=secagg,
    )


def _mechanism(scenario: Scenario) -> Any:
    """The scenario's mechanism, with the ``[market]`` settings its constructor takes."""
    import dataclasses

    import market

    cls = market.MECHANISMS[scenario.market.mechanism]
    takes: set[str] = (
        {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    )
    options = {
        name: getattr(scenario.market, name)
        for name in ("full_budget_gain", "confidence", "incentive_power")
        if name in takes
    }
    return market.make_mechanism(scenario.market.mechanism, **options)
