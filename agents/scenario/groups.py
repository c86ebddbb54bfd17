"""Participant groups: ``[participants.NAME]`` tables of a scenario."""

from __future__ import annotations

from dataclasses import dataclass

from agents.scenario.errors import is_integer, is_number, require
from agents.scenario.limits import MAX_NAME_CHARS, shown

STRATEGIES = (
    "honest",
    "free_rider",
    "noisy",
    "poisoner",
    "sybil",
    "colluder",
    "copycat",
    "replay",
    "plagiarist",
    "lazy",
)
FREE_RIDE = ("zero", "stale", "disguised")
SYBIL_MODES = ("split", "replicate", "complementary")
MAX_SPEED = 1e9
"""Samples per second; with ``train.deadline_s <= 1e7`` the sample budget stays an int64."""
MAX_CLASS_ALPHA = 1e6
"""Beyond this a Dirichlet class mix is the pool's own mix anyway (and ``alpha * prior``
must stay finite)."""


@dataclass(frozen=True)
class ParticipantGroup:
    """``count`` participants that share a data, compute, cost and strategy profile.

    Attributes:
        name: the group's key under ``[participants.NAME]``.
        count: participants in the group (owners; a Sybil owner has several identities).
        data_size: training examples per participant.
        class_alpha: Dirichlet concentration of each participant's class mix (0: the pool's
            own mix, i.e. no label skew; 0.1: strongly skewed).
        label_noise: share of the participant's labels that are wrong (honest but noisy data).
        speed: samples per second (with the round deadline, bounds the samples per round).
        availability: probability of being available in a round.
        cost: cost of one round of training (a free rider does not train and pays nothing).
        strategy: honest, free_rider, noisy (trains on flipped labels), poisoner (sends a
            scaled or sign-flipped update), sybil (splits or replicates its data over several
            identities), colluder (the group's owners pool their data, one trains, all send
            near-copies of that update), copycat (sends a peer's previous update plus
            ``copy_noise``, without training), replay (sends the global step of
            ``replay_lag`` rounds back, rescaled to the last step's norm, plus
            ``copy_noise``), plagiarist (trains honestly on a copy of the first owner's
            data), lazy (trains ``lazy_samples`` samples only); see ``agents.participants``.
        flip_rate: share of labels a ``noisy`` participant flips.
        poison_scale: factor a ``poisoner`` multiplies its update by (negative: sign flip).
        sybil_identities: identities a ``sybil`` participant splits into.
        synthetic_examples: reviews the foundation model writes for each participant of the
            group (:func:`fl_core.synthesize`, few-shot on its own reviews), added to its
            shard; their labels are the prompted ones, split evenly over the classes.
        free_ride: a free rider's update: ``zero``, ``stale`` (the last global step) or
            ``disguised`` (the last global step plus Gaussian noise, Fraboni et al. 2021).
        disguise_noise: a disguised free rider's noise norm, relative to the last step's.
        sybil_mode: ``split`` (the data divided over the identities), ``complementary``
            (divided by label, so the pieces hold different classes) or ``replicate`` (the
            same data under every identity: one trains, the others send copies).
        copy_noise: Gaussian noise added to a copied update (replicas, colluders), relative
            to its norm: 0 sends exact copies, ~0.2 evades a 0.995 cosine replica detector.
        bid_factor: the cost it declares (its auction bid) over its true cost.
        size_factor: the data size it declares over its true size (the auction selects on
            declared sizes; aggregation weights, costs and training use the truth).
        join_round: the first round it is available in (a late joiner: > 1).
        replay_lag: rounds back a ``replay`` participant takes its global step from.
        lazy_samples: samples a ``lazy`` participant trains on per round (its cost scales
            down with them).
    """

    name: str
    count: int = 1
    data_size: int = 200
    class_alpha: float = 0.0
    label_noise: float = 0.0
    speed: float = 3.2
    availability: float = 1.0
    cost: float = 5.0
    strategy: str = "honest"
    flip_rate: float = 1.0
    poison_scale: float = -3.0
    sybil_identities: int = 3
    free_ride: str = "zero"
    synthetic_examples: int = 0
    disguise_noise: float = 1.0
    sybil_mode: str = "split"
    copy_noise: float = 0.0
    bid_factor: float = 1.0
    size_factor: float = 1.0
    join_round: int = 1
    replay_lag: int = 2
    lazy_samples: int = 16

    @property
    def identities(self) -> int:
        """Identities each owner of this group shows the platform."""
        return self.sybil_identities if self.strategy == "sybil" else 1

    def __post_init__(self) -> None:
        require(
            isinstance(self.name, str)
            and self.name.isidentifier()
            and len(self.name) <= MAX_NAME_CHARS,
            "participants",
            f"group name {shown(str(self.name))} must be an identifier (letters, _, digits) "
            f"of at most {MAX_NAME_CHARS} characters",
        )
        at = f"participants.{self.name}"
        require(
            is_integer(self.count) and 0 <= self.count <= 10_000,
            f"{at}.count",
            f"must be an integer in [0, 10000], got {self.count!r}",
        )
        require(
            is_integer(self.data_size) and 1 <= self.data_size <= 100_000,
            f"{at}.data_size",
            f"must be an integer in [1, 100000], got {self.data_size!r}",
        )
        require(
            is_number(self.class_alpha) and 0 <= self.class_alpha <= MAX_CLASS_ALPHA,
            f"{at}.class_alpha",
            f"must be in [0, {MAX_CLASS_ALPHA:g}] (0: no label skew), got {self.class_alpha!r}",
        )
        require(
            is_number(self.label_noise) and 0 <= self.label_noise <= 1,
            f"{at}.label_noise",
            f"must be in [0, 1], got {self.label_noise!r}",
        )
        require(
            is_number(self.speed) and 0 < self.speed <= MAX_SPEED,
            f"{at}.speed",
            f"samples per second must be in (0, {MAX_SPEED:g}], got {self.speed!r}",
        )
        require(
            is_number(self.availability) and 0 <= self.availability <= 1,
            f"{at}.availability",
            f"must be in [0, 1], got {self.availability!r}",
        )
        require(
            is_number(self.cost) and self.cost >= 0,
            f"{at}.cost",
            f"must be >= 0, got {self.cost!r}",
        )
        require(
            self.strategy in STRATEGIES,
            f"{at}.strategy",
            f"{self.strategy!r} is not one of {STRATEGIES}",
        )
        require(
            is_number(self.flip_rate) and 0 <= self.flip_rate <= 1,
            f"{at}.flip_rate",
            f"must be in [0, 1], got {self.flip_rate!r}",
        )
        require(
            is_number(self.poison_scale),
            f"{at}.poison_scale",
            f"must be a finite number, got {self.poison_scale!r}",
        )
        require(
            is_integer(self.sybil_identities) and 1 <= self.sybil_identities <= 50,
            f"{at}.sybil_identities",
            f"must be an integer in [1, 50], got {self.sybil_identities!r}",
        )
        require(
            self.free_ride in FREE_RIDE,
            f"{at}.free_ride",
            f"{self.free_ride!r} is not one of {FREE_RIDE}",
        )
        require(
            is_integer(self.synthetic_examples) and 0 <= self.synthetic_examples <= 10_000,
            f"{at}.synthetic_examples",
            f"must be an integer in [0, 10000] (0: none), got {self.synthetic_examples!r}",
        )
        require(
            self.sybil_mode in SYBIL_MODES,
            f"{at}.sybil_mode",
            f"{self.sybil_mode!r} is not one of {SYBIL_MODES}",
        )
        for key, low, top in (
            ("join_round", 1, 100_000),
            ("replay_lag", 1, 1_000),
            ("lazy_samples", 1, 1_000_000),
        ):
            value = getattr(self, key)
            require(
                is_integer(value) and low <= value <= top,
                f"{at}.{key}",
                f"must be an integer in [{low}, {top}], got {value!r}",
            )
        for key, limit in (
            ("disguise_noise", 100.0),
            ("copy_noise", 100.0),
            ("bid_factor", 1000.0),
            ("size_factor", 1000.0),
        ):
            value = getattr(self, key)
            require(
                is_number(value) and 0 <= value <= limit,
                f"{at}.{key}",
                f"must be a number in [0, {limit:g}], got {value!r}",
            )
