"""Participant groups: ``[participants.NAME]`` tables of a scenario."""

from __future__ import annotations

from dataclasses import dataclass

from agents.scenario.choices import FREE_RIDE, STRATEGY, SYBIL_MODES
from agents.scenario.errors import require
from agents.scenario.spec import check_fields, setting
from agents.scenario.text import MAX_NAME_CHARS, shown

MAX_SPEED = 1e9
"""Samples per second; with ``train.deadline_s <= 1e7`` the sample budget stays an int64."""
MAX_CLASS_ALPHA = 1e6
"""Beyond this a Dirichlet class mix is the pool's own mix anyway (and ``alpha * prior``
must stay finite)."""


def _strategies() -> tuple[str, ...]:
    """The registered strategies (built-in and a user's, :mod:`agents.strategies`)."""
    from agents.strategies import STRATEGIES as REGISTERED

    return tuple(REGISTERED)


@dataclass(frozen=True)
class ParticipantGroup:
    """``count`` participants that share a data, compute, cost and strategy profile.

    ``name`` is the group's key under ``[participants.NAME]``; every other field is described
    where it is declared (``fedmarket fields participants``); the strategies are played by
    ``agents.participants``.
    """

    name: str
    count: int = setting(
        1,
        "Participants in the group (owners; a Sybil owner has several identities).",
        within="[0, 10000]",
    )
    data_size: int = setting(
        200, "Training examples per participant.", within="[1, 100000]", label="data size"
    )
    class_alpha: float = setting(
        0.0,
        "Dirichlet concentration of each participant's class mix: the label skew of the data "
        "partition (0: the pool's own mix, no skew; 0.1: strongly skewed).",
        within=f"[0, {MAX_CLASS_ALPHA}]",
        label="label skew (class_alpha)",
        note="0: no label skew",
    )
    label_noise: float = setting(
        0.0,
        "Share of the participant's labels that are wrong (honest but noisy data).",
        within="[0, 1]",
        label="label noise",
    )
    speed: float = setting(
        3.2,
        "Samples per second; with the round deadline it bounds the samples per round.",
        within=f"(0, {MAX_SPEED}]",
        unit="samples/s",
    )
    availability: float = setting(
        1.0, "Chance of being available (online) in a round.", within="[0, 1]"
    )
    cost: float = setting(
        5.0,
        "Cost of one round of training (a free rider does not train and pays nothing).",
        within="[0, inf)",
        unit="budget units",
    )
    strategy: str = setting(
        "honest",
        "How the participant plays (agents.strategies; a registered one by its name).",
        choices=_strategies,
        choice_help=STRATEGY,
    )
    flip_rate: float = setting(
        1.0,
        "Share of labels a noisy participant flips.",
        within="[0, 1]",
        label="flip rate (noisy)",
    )
    poison_scale: float = setting(
        -3.0,
        "Factor a poisoner multiplies its update by (negative: sign flip).",
        label="poison scale",
    )
    sybil_identities: int = setting(
        3, "Identities a sybil participant splits into.", within="[1, 50]", label="sybil identities"
    )
    free_ride: str = setting(
        "zero",
        "A free rider's update: zero, stale (the last global step) or disguised (the last "
        "global step plus Gaussian noise, Fraboni et al. 2021).",
        label="free ride",
        choices=FREE_RIDE,
    )
    synthetic_examples: int = setting(
        0,
        "Reviews the foundation model writes for each participant (fl_core.synthesize, "
        "few-shot on its own reviews), added to its shard; their labels are the prompted ones, "
        "split evenly over the classes.",
        within="[0, 10000]",
        note="0: none",
    )
    disguise_noise: float = setting(
        1.0, "A disguised free rider's noise norm, relative to the last step's.", within="[0, 100]"
    )
    sybil_mode: str = setting(
        "split",
        "split (the data divided over the identities), complementary (divided by label, so the "
        "pieces hold different classes) or replicate (the same data under every identity: one "
        "trains, the others send copies).",
        choices=SYBIL_MODES,
    )
    copy_noise: float = setting(
        0.0,
        "Gaussian noise added to a copied update (replicas, colluders, copycats, replays), "
        "relative to its norm: 0 sends exact copies, ~0.2 evades a 0.995 cosine replica "
        "detector.",
        within="[0, 100]",
    )
    bid_factor: float = setting(
        1.0, "The cost it declares (its auction bid) over its true cost.", within="[0, 1000]"
    )
    size_factor: float = setting(
        1.0,
        "The data size it declares over its true size (the auction selects on declared sizes; "
        "aggregation weights, costs and training use the truth).",
        within="[0, 1000]",
    )
    join_round: int = setting(
        1, "The first round it is available in (a late joiner: > 1).", within="[1, 100000]"
    )
    replay_lag: int = setting(
        2, "Rounds back a replay participant takes its global step from.", within="[1, 1000]"
    )
    lazy_samples: int = setting(
        16,
        "Samples a lazy participant trains on per round (its cost scales down with them).",
        within="[1, 1000000]",
    )

    @property
    def identities(self) -> int:
        """Identities each owner of this group shows the platform."""
        from agents.strategies import STRATEGIES

        if self.strategy not in STRATEGIES:  # (validation names it)
            return 1
        return STRATEGIES[self.strategy].identities_of(self)  # type: ignore[attr-defined]

    def __post_init__(self) -> None:
        require(
            isinstance(self.name, str)
            and self.name.isidentifier()
            and len(self.name) <= MAX_NAME_CHARS,
            "participants",
            f"group name {shown(str(self.name))} must be an identifier (letters, _, digits) "
            f"of at most {MAX_NAME_CHARS} characters",
        )
        check_fields(self, f"participants.{self.name}")
