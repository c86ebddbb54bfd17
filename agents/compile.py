"""Compile a :class:`~agents.scenario.Scenario` once into a :class:`RunPlan` of typed parts.

The scenario is plain, validated data; the plan is what a run executes: the ``market``
estimator, mechanism and reputation policy, the privacy access mode (with the ``fl_core``
aggregator and the secure-aggregation settings), the settings the platform reads, and one
:class:`IdentitySpec` per identity the platform will see. Compiling imports no torch and
draws no random numbers: the same scenario always compiles to the same plan, and the model
only has to execute it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.identities import IdentitySpec, identities_of

if TYPE_CHECKING:
    from agents.access import Access
    from agents.dp import DifferentialPrivacy
    from agents.scenario import ParticipantGroup, Scenario
    from agents.strategies import Strategy
    from market import Estimator, Mechanism, ReputationPolicy


@dataclass(frozen=True)
class RunPlan:
    """What a run executes, built once from a scenario by :func:`compile_scenario`.

    The platform reads only the plan's typed parts and settings, never ``scenario``.

    Attributes:
        scenario: the source (for the model: data, training, participants).
        owners: one group per data owner, in order.
        identities: every identity the platform sees, by ``pid``.
        estimator: the ``market`` contribution estimator (``market.scoring``).
        scoring_budget: its requested utility evaluations (``market.scoring_budget``).
        mechanism: the ``market`` reward mechanism (its selection phase and payments).
        reputation: the ``market`` reputation policy (evidence, forgetting, exclusion).
        access: the privacy access mode (:mod:`agents.access`): how the round is summed, who
            may read an update, how scoring reaches coalition utilities
            (``privacy.access``; ``plaintext`` without secure aggregation).
        round_budget: the money paid out each round (``market.round_budget``).
        carry_unspent: whether an unpaid budget is carried over (``market.unspent``).
        max_update_norm: the screen's bound on an update's norm (``train.max_update_norm``).
        utility_metric: what a coalition's utility measures (``market.utility_metric``).
        strategies: each owner's participant strategy (:mod:`agents.strategies`), in order.
        dp: client-level differential privacy (``privacy.dp``; ``None``: off).
    """

    scenario: Scenario
    owners: tuple[ParticipantGroup, ...]
    identities: tuple[IdentitySpec, ...]
    estimator: Estimator
    scoring_budget: int
    mechanism: Mechanism
    reputation: ReputationPolicy
    access: Access
    round_budget: float
    carry_unspent: bool
    max_update_norm: float
    utility_metric: str
    strategies: tuple[Strategy, ...]
    dp: DifferentialPrivacy | None = None

    @property
    def n_identities(self) -> int:
        return len(self.identities)

    @property
    def prior_reward(self) -> float:
        """A newcomer's expected reward: an even share of the round budget."""
        return self.round_budget / self.n_identities


def compile_scenario(scenario: Scenario) -> RunPlan:
    """The plan of ``scenario``: every component built once, nothing drawn at random.

    The scenario's budget (:func:`agents.scenario.limits.check_budget`: identities, examples,
    estimated peak memory) is checked again first, under the memory limit in force now.
    """
    import market
    from agents.access import ACCESS_MODES, SecureAggregation
    from agents.scenario.limits import check_budget
    from agents.strategies import make_strategy
    from fl_core.aggregation import make_aggregator

    check_budget(scenario)  # before one identity or shard is built

    privacy, section, train = scenario.privacy, scenario.market, scenario.train
    secure = None
    if privacy.secure_aggregation:  # its settings keep their [privacy] names
        names = [f.name for f in dataclasses.fields(SecureAggregation) if hasattr(privacy, f.name)]
        secure = SecureAggregation(**{name: getattr(privacy, name) for name in names})
    access = ACCESS_MODES[privacy.access if secure is not None else "plaintext"](
        secure,
        make_aggregator(train.aggregator, **train.aggregator_options()),
        fedavg=train.aggregator == "fedavg",
    )
    owners = tuple(g for g in scenario.participants for _ in range(g.count))
    built = {g.name: make_strategy(g.strategy, g) for g in scenario.participants}
    strategies = tuple(built[g.name] for g in owners)
    return RunPlan(
        scenario=scenario,
        owners=owners,
        identities=identities_of(owners, strategies),
        estimator=market.make_estimator(section.scoring),
        scoring_budget=section.scoring_budget,
        mechanism=_mechanism(scenario),
        reputation=market.ReputationPolicy(threshold=section.reputation_threshold),
        access=access,
        round_budget=section.round_budget,
        carry_unspent=section.unspent == "carry",
        max_update_norm=train.max_update_norm,
        utility_metric=section.utility_metric,
        strategies=strategies,
        dp=_differential_privacy(scenario, access),
    )


def _differential_privacy(scenario: Scenario, access: Access) -> DifferentialPrivacy | None:
    """The run's DP, its noise multiplier solved from the target where not given."""
    from agents.dp import DifferentialPrivacy

    section = scenario.privacy.dp
    if not section.enabled:
        return None
    secure = access.secure is not None
    if section.noise_multiplier > 0:
        dp = DifferentialPrivacy(section.noise_multiplier, section.clip, section.delta)
    else:
        n = scenario.n_identities  # the most clients a round can include: the largest t
        t_max = access.noise_divisor(n)
        dp = DifferentialPrivacy.solve(
            epsilon=section.epsilon,
            delta=section.delta,
            clip=section.clip,
            rounds=scenario.rounds,
            t_max=t_max,
            covers=section.budget_covers,
            scoring_share=section.scoring_share,
        )
    if access.secure is not None and scenario.n_identities >= 2:
        _check_grid(dp, access, scenario.n_identities)
    return dataclasses.replace(dp, secure=secure)


def _check_grid(dp: DifferentialPrivacy, access: Access, n: int) -> None:
    """Refuse a secure sum whose grid is too coarse for the noise: the smallest share must
    span :data:`privacy.dp.MIN_GRID_STEPS` steps of the noisiest run's grid."""
    import privacy
    from agents.scenario import ScenarioError

    step = access.noise_grid_step(dp, n)
    steps = privacy.dp.share_std(dp.noise_multiplier, dp.clip, access.noise_divisor(n)) / step
    if steps < privacy.dp.MIN_GRID_STEPS:
        raise ScenarioError(
            "privacy.clip",
            f"the DP noise spans {steps:.0f} steps of the secure sum's grid, below "
            f"{privacy.dp.MIN_GRID_STEPS}; use privacy.bits = 64 or a privacy.clip nearer "
            "privacy.dp.clip",
        )


def _mechanism(scenario: Scenario) -> Mechanism:
    """The scenario's mechanism, with every ``[market]`` setting its constructor takes under
    the same name (e.g. ``incentive_power``, ``confidence``)."""
    import market

    cls = market.MECHANISMS[scenario.market.mechanism]
    takes: list[str] = (
        [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
    )
    options = {
        name: getattr(scenario.market, name) for name in takes if hasattr(scenario.market, name)
    }
    return market.make_mechanism(scenario.market.mechanism, **options)
