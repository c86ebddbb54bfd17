"""Scenarios: a frozen, validated description of one marketplace simulation.

A :class:`Scenario` is plain data (hashable, comparable, TOML round-trippable). Each section
is a frozen dataclass validated in ``__post_init__``; a bad value raises
:class:`ScenarioError` (a ``ValueError``) with one line naming the field (as a dotted path,
e.g. ``participants.free_riders.cost``) and what is allowed. ``Scenario.from_toml`` also
rejects unknown keys and wrong types, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

STRATEGIES = ("honest", "free_rider", "noisy", "poisoner", "sybil")
MODES = ("lora", "head")
INITS = ("pretrained", "random")
BACKBONES = ("minilm", "tiny")
ACCESS_MODES = ("plaintext", "secure_coalitions", "secure_evaluator")
SELECTIONS = ("all", "auction")
UTILITY_METRICS = ("accuracy", "neg_loss")
AGGREGATORS = ("fedavg", "median", "trimmed_mean")
FREE_RIDE = ("zero", "stale")
SECAGG_STAGES = ("advertise_keys", "share_keys", "masked_input", "unmasking")


class ScenarioError(ValueError):
    """An invalid scenario field; the message is one line: ``field: problem; fix``."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ScenarioError(message)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


MAX_SPEED = 1e9
"""Samples per second; with ``MAX_DEADLINE_S`` the per-round sample budget stays an int64."""
MAX_DEADLINE_S = 1e7
MAX_CLASS_ALPHA = 1e6
"""Beyond this a Dirichlet class mix is the pool's own mix anyway (and ``alpha * prior``
must stay finite)."""
MAX_ROUND_BUDGET = 1e12
"""Keeps ``rounds * round_budget`` and every payment sum finite."""


def _key(key: Any) -> str:
    """A key as it may appear in a one-line message: bare keys as they are, others quoted."""
    text = str(key)
    bare = bool(text) and all(c.isascii() and (c.isalnum() or c in "_-") for c in text)
    return text if bare else repr(text)


@dataclass(frozen=True)
class ModelSection:
    """Which network and how it is fine-tuned (see ``fl_core.config.ModelConfig``)."""

    mode: str = "lora"
    init: str = "pretrained"
    backbone: str = "minilm"
    lora_rank: int = 8
    lora_alpha: int = 16
    adapted_layers: int = 2
    head_hidden: int = 0

    def __post_init__(self) -> None:
        _require(self.mode in MODES, f"model.mode: {self.mode!r} is not one of {MODES}")
        _require(self.init in INITS, f"model.init: {self.init!r} is not one of {INITS}")
        _require(
            self.backbone in BACKBONES,
            f"model.backbone: {self.backbone!r} is not one of {BACKBONES}",
        )
        _require(
            _integer(self.lora_rank) and 1 <= self.lora_rank <= 64,
            f"model.lora_rank: must be an integer in [1, 64], got {self.lora_rank!r}",
        )
        _require(
            _integer(self.lora_alpha) and self.lora_alpha >= 1,
            f"model.lora_alpha: must be a positive integer, got {self.lora_alpha!r}",
        )
        _require(
            _integer(self.adapted_layers) and 1 <= self.adapted_layers <= 6,
            f"model.adapted_layers: must be an integer in [1, 6], got {self.adapted_layers!r}",
        )
        _require(
            _integer(self.head_hidden) and 0 <= self.head_hidden <= 1024,
            f"model.head_hidden: must be an integer in [0, 1024], got {self.head_hidden!r}",
        )


@dataclass(frozen=True)
class DataSection:
    """Where the data come from and how the server evaluates."""

    dataset: str = "amazon_reviews"
    path: str = ""
    text_column: str = "review"
    label_column: str = "score"
    positive_label: str = "great"
    val_size: int = 500
    max_length: int = 128
    utility_subset: int = 128
    replace: bool = False

    def __post_init__(self) -> None:
        _require(
            self.dataset in ("amazon_reviews", "file"),
            f"data.dataset: {self.dataset!r} is not one of ('amazon_reviews', 'file')",
        )
        _require(
            self.dataset != "file" or bool(self.path),
            "data.path: required when data.dataset = 'file'; give a CSV or JSONL file",
        )
        _require(
            _integer(self.val_size) and 20 <= self.val_size <= 100_000,
            f"data.val_size: must be an integer in [20, 100000], got {self.val_size!r}",
        )
        _require(
            _integer(self.max_length) and 8 <= self.max_length <= 512,
            f"data.max_length: must be an integer in [8, 512], got {self.max_length!r}",
        )
        _require(
            _integer(self.utility_subset) and 10 <= self.utility_subset,
            f"data.utility_subset: must be an integer >= 10, got {self.utility_subset!r}",
        )


@dataclass(frozen=True)
class TrainSection:
    """Local training (see ``fl_core.config.TrainConfig``)."""

    lr: float = 5e-3
    batch_size: int = 16
    local_epochs: float = 1.0
    deadline_s: float = 60.0
    min_samples: int = 16
    prox_mu: float = 0.0
    aggregator: str = "fedavg"
    trim_fraction: float = 0.2
    max_update_norm: float = 10.0

    def __post_init__(self) -> None:
        _require(
            _number(self.lr) and 0 < self.lr < 1, f"train.lr: must be in (0, 1), got {self.lr!r}"
        )
        _require(
            _integer(self.batch_size) and 1 <= self.batch_size <= 1024,
            f"train.batch_size: must be an integer in [1, 1024], got {self.batch_size!r}",
        )
        _require(
            _number(self.local_epochs) and 0 < self.local_epochs <= 100,
            f"train.local_epochs: must be in (0, 100], got {self.local_epochs!r}",
        )
        _require(
            _number(self.deadline_s) and self.deadline_s > 0,
            f"train.deadline_s: must be > 0 seconds, got {self.deadline_s!r}",
        )
        _require(
            self.deadline_s <= MAX_DEADLINE_S,
            f"train.deadline_s: must be at most {MAX_DEADLINE_S:g} seconds, got "
            f"{self.deadline_s!r}",
        )
        _require(
            _integer(self.min_samples) and self.min_samples >= 1,
            f"train.min_samples: must be a positive integer, got {self.min_samples!r}",
        )
        _require(
            _number(self.prox_mu) and self.prox_mu >= 0,
            f"train.prox_mu: must be >= 0, got {self.prox_mu!r}",
        )
        _require(
            self.aggregator in AGGREGATORS,
            f"train.aggregator: {self.aggregator!r} is not one of {AGGREGATORS}",
        )
        _require(
            _number(self.trim_fraction) and 0 <= self.trim_fraction < 0.5,
            f"train.trim_fraction: must be in [0, 0.5), got {self.trim_fraction!r}",
        )
        _require(
            _number(self.max_update_norm) and self.max_update_norm > 0,
            f"train.max_update_norm: must be > 0, got {self.max_update_norm!r}",
        )


@dataclass(frozen=True)
class PrivacySection:
    """Secure aggregation and how contribution scoring may see updates.

    ``access``: ``plaintext`` (the server sees every update), ``secure_coalitions`` (every
    coalition aggregate scoring needs is a secure-aggregation run over that subset; the leak
    audit reports who those releases expose) or ``secure_evaluator`` (utilities are computed
    inside a trusted evaluation boundary and only scalars leave it).
    """

    secure_aggregation: bool = False
    access: str = "plaintext"
    threshold: float = 0.5
    neighbors: int = 0
    clip: float = 1.0
    bits: int = 32
    dropout_rate: float = 0.0

    def __post_init__(self) -> None:
        _require(
            self.access in ACCESS_MODES,
            f"privacy.access: {self.access!r} is not one of {ACCESS_MODES}",
        )
        _require(
            self.secure_aggregation or self.access == "plaintext",
            f"privacy.access: {self.access!r} needs privacy.secure_aggregation = true",
        )
        _require(
            _number(self.threshold) and 0 < self.threshold <= 1,
            "privacy.threshold: the share of clients (or neighbours) needed to unmask must "
            f"be in (0, 1], got {self.threshold!r}",
        )
        _require(
            _integer(self.neighbors) and self.neighbors >= 0,
            "privacy.neighbors: 0 for the complete graph (SecAgg), or a positive degree "
            f"(SecAgg+), got {self.neighbors!r}",
        )
        _require(
            _number(self.clip) and self.clip > 0,
            f"privacy.clip: must be > 0, got {self.clip!r}",
        )
        _require(
            self.bits in (32, 64),
            f"privacy.bits: must be 32 or 64, got {self.bits!r}",
        )
        _require(
            _number(self.dropout_rate) and 0 <= self.dropout_rate < 1,
            f"privacy.dropout_rate: must be in [0, 1), got {self.dropout_rate!r}",
        )


@dataclass(frozen=True)
class MarketSection:
    """Scoring, payment and trust."""

    scoring: str = "gtg"
    scoring_budget: int = 16
    utility_metric: str = "neg_loss"
    mechanism: str = "shapley_fair"
    round_budget: float = 100.0
    selection: str = "all"
    reputation_threshold: float = 0.0
    exploration: float = 0.1
    learning_rate: float = 0.5

    def __post_init__(self) -> None:
        _require(
            isinstance(self.scoring, str) and bool(self.scoring),
            f"market.scoring: must be a method name, got {self.scoring!r}",
        )
        _require(
            _integer(self.scoring_budget) and self.scoring_budget >= 2,
            f"market.scoring_budget: must be an integer >= 2, got {self.scoring_budget!r}",
        )
        _require(
            self.utility_metric in UTILITY_METRICS,
            f"market.utility_metric: {self.utility_metric!r} is not one of {UTILITY_METRICS}",
        )
        _require(
            isinstance(self.mechanism, str) and bool(self.mechanism),
            f"market.mechanism: must be a mechanism name, got {self.mechanism!r}",
        )
        _require(
            _number(self.round_budget) and self.round_budget > 0,
            f"market.round_budget: must be > 0, got {self.round_budget!r}",
        )
        _require(
            self.round_budget <= MAX_ROUND_BUDGET,
            f"market.round_budget: must be at most {MAX_ROUND_BUDGET:g}, got {self.round_budget!r}",
        )
        _require(
            self.selection in SELECTIONS,
            f"market.selection: {self.selection!r} is not one of {SELECTIONS}",
        )
        _require(
            _number(self.reputation_threshold) and 0 <= self.reputation_threshold < 1,
            "market.reputation_threshold: must be in [0, 1) (0 never excludes), got "
            f"{self.reputation_threshold!r}",
        )
        _require(
            _number(self.exploration) and 0 <= self.exploration <= 1,
            f"market.exploration: must be in [0, 1], got {self.exploration!r}",
        )
        _require(
            _number(self.learning_rate) and 0 < self.learning_rate <= 1,
            f"market.learning_rate: must be in (0, 1], got {self.learning_rate!r}",
        )


@dataclass(frozen=True)
class ParticipantGroup:
    """``count`` participants that share a data, compute, cost and strategy profile.

    Attributes:
        name: the group's key under ``[participants.NAME]``.
        data_size: training examples per participant.
        class_alpha: Dirichlet concentration of each participant's class mix (0: the pool's
            own mix, i.e. no label skew; 0.1: strongly skewed).
        label_noise: share of the participant's labels that are wrong (honest but noisy data).
        speed: samples per second (with the round deadline, bounds the samples per round).
        availability: probability of being available in a round.
        cost: cost of one round of training (a free rider does not train and pays nothing).
        strategy: honest, free_rider, noisy (trains on flipped labels), poisoner (sends a
            scaled or sign-flipped update), sybil (splits its data over several identities).
        flip_rate: share of labels a ``noisy`` participant flips.
        poison_scale: factor a ``poisoner`` multiplies its update by (negative: sign flip).
        sybil_identities: identities a ``sybil`` participant splits into.
        free_ride: a free rider's update: ``zero`` or ``stale`` (the last global step).
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

    def __post_init__(self) -> None:
        where = f"participants.{self.name}"
        _require(
            isinstance(self.name, str) and self.name.isidentifier(),
            f"participants: group name {self.name!r} must be an identifier (letters, _, digits)",
        )
        _require(
            _integer(self.count) and 0 <= self.count <= 10_000,
            f"{where}.count: must be an integer in [0, 10000], got {self.count!r}",
        )
        _require(
            _integer(self.data_size) and 1 <= self.data_size <= 100_000,
            f"{where}.data_size: must be an integer in [1, 100000], got {self.data_size!r}",
        )
        _require(
            _number(self.class_alpha) and self.class_alpha >= 0,
            f"{where}.class_alpha: must be >= 0 (0: no label skew), got {self.class_alpha!r}",
        )
        _require(
            self.class_alpha <= MAX_CLASS_ALPHA,
            f"{where}.class_alpha: must be at most {MAX_CLASS_ALPHA:g} (larger means no skew), "
            f"got {self.class_alpha!r}",
        )
        _require(
            _number(self.label_noise) and 0 <= self.label_noise <= 1,
            f"{where}.label_noise: must be in [0, 1], got {self.label_noise!r}",
        )
        _require(
            _number(self.speed) and self.speed > 0,
            f"{where}.speed: samples per second must be > 0, got {self.speed!r}",
        )
        _require(
            self.speed <= MAX_SPEED,
            f"{where}.speed: samples per second must be at most {MAX_SPEED:g}, got {self.speed!r}",
        )
        _require(
            _number(self.availability) and 0 <= self.availability <= 1,
            f"{where}.availability: must be in [0, 1], got {self.availability!r}",
        )
        _require(
            _number(self.cost) and self.cost >= 0,
            f"{where}.cost: must be >= 0, got {self.cost!r}",
        )
        _require(
            self.strategy in STRATEGIES,
            f"{where}.strategy: {self.strategy!r} is not one of {STRATEGIES}",
        )
        _require(
            _number(self.flip_rate) and 0 <= self.flip_rate <= 1,
            f"{where}.flip_rate: must be in [0, 1], got {self.flip_rate!r}",
        )
        _require(
            _number(self.poison_scale),
            f"{where}.poison_scale: must be a finite number, got {self.poison_scale!r}",
        )
        _require(
            _integer(self.sybil_identities) and 1 <= self.sybil_identities <= 50,
            f"{where}.sybil_identities: must be an integer in [1, 50], got "
            f"{self.sybil_identities!r}",
        )
        _require(
            self.free_ride in FREE_RIDE,
            f"{where}.free_ride: {self.free_ride!r} is not one of {FREE_RIDE}",
        )


def _default_groups() -> tuple[ParticipantGroup, ...]:
    return (ParticipantGroup(name="honest", count=6, data_size=300),)


@dataclass(frozen=True)
class Scenario:
    """One marketplace simulation: rounds and seed, and one section per concern."""

    name: str = "default"
    rounds: int = 5
    seed: int = 0
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    privacy: PrivacySection = field(default_factory=PrivacySection)
    market: MarketSection = field(default_factory=MarketSection)
    participants: tuple[ParticipantGroup, ...] = field(default_factory=_default_groups)

    def __post_init__(self) -> None:
        _require(
            _integer(self.rounds) and 1 <= self.rounds <= 10_000,
            f"rounds: must be an integer in [1, 10000], got {self.rounds!r}",
        )
        _require(
            _integer(self.seed) and 0 <= self.seed < 2**63,
            f"seed: must be a non-negative integer, got {self.seed!r}",
        )
        _require(
            isinstance(self.participants, tuple) and len(self.participants) > 0,
            "participants: give at least one group as [participants.NAME]",
        )
        names = [g.name for g in self.participants]
        _require(len(set(names)) == len(names), f"participants: group names repeat: {names}")
        _require(
            self.n_identities >= 1,
            "participants: every group has count = 0; give at least one participant",
        )

    @property
    def n_identities(self) -> int:
        """Participant identities the platform sees (a Sybil counts once per identity)."""
        return sum(
            g.count * (g.sybil_identities if g.strategy == "sybil" else 1)
            for g in self.participants
        )

    def group(self, name: str) -> ParticipantGroup:
        for g in self.participants:
            if g.name == name:
                return g
        raise ScenarioError(
            f"participants.{name}: no such group; groups are {[g.name for g in self.participants]}"
        )

    # ----- dotted paths (sweeps) -----
    def replace(self, path: str, value: Any) -> Scenario:
        """A copy with the field at dotted ``path`` set (e.g. ``market.mechanism``,
        ``participants.free_riders.count``), validated like everything else."""
        parts = path.split(".")
        if parts[0] == "participants":
            _require(len(parts) == 3, f"{path}: use participants.GROUP.FIELD")
            group = self.group(parts[1])
            _require(
                parts[2] in {f.name for f in fields(ParticipantGroup)} and parts[2] != "name",
                f"{path}: unknown participant field {parts[2]!r}",
            )
            new_group = dataclasses.replace(
                group, **{parts[2]: _coerce(ParticipantGroup, parts[2], value, path)}
            )
            groups = tuple(new_group if g.name == group.name else g for g in self.participants)
            return dataclasses.replace(self, participants=groups)
        if len(parts) == 1:
            _require(parts[0] in ("name", "rounds", "seed"), f"{path}: unknown scenario field")
            return dataclasses.replace(self, **{parts[0]: _coerce(Scenario, parts[0], value, path)})
        _require(len(parts) == 2, f"{path}: use SECTION.FIELD")
        section_name, key = parts
        _require(
            section_name in _SECTIONS,
            f"{path}: unknown section {section_name!r}; use one of {sorted(_SECTIONS)}",
        )
        section = getattr(self, section_name)
        _require(
            key in {f.name for f in fields(section)},
            f"{path}: unknown field {key!r} in [{section_name}]",
        )
        new_section = dataclasses.replace(
            section, **{key: _coerce(type(section), key, value, path)}
        )
        return dataclasses.replace(self, **{section_name: new_section})

    def get(self, path: str) -> Any:
        parts = path.split(".")
        if parts[0] == "participants" and len(parts) == 3:
            return getattr(self.group(parts[1]), parts[2])
        value: Any = self
        for part in parts:
            _require(hasattr(value, part), f"{path}: unknown field")
            value = getattr(value, part)
        return value

    # ----- TOML -----
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "rounds": self.rounds, "seed": self.seed}
        for section in _SECTIONS:
            out[section] = dataclasses.asdict(getattr(self, section))
        out["participants"] = {
            g.name: {k: v for k, v in dataclasses.asdict(g).items() if k != "name"}
            for g in self.participants
        }
        return out

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Scenario:
        _require(isinstance(raw, Mapping), "scenario: the top level must be a table")
        allowed = {"name", "rounds", "seed", "participants", *_SECTIONS}
        for key in raw:
            _require(key in allowed, f"{_key(key)}: unknown key; allowed are {sorted(allowed)}")
        kwargs: dict[str, Any] = {}
        for key in ("name", "rounds", "seed"):
            if key in raw:
                kwargs[key] = _coerce(Scenario, key, raw[key], key)
        for section_name, section_cls in _SECTIONS.items():
            if section_name in raw:
                kwargs[section_name] = _build(section_cls, raw[section_name], section_name)
        if "participants" in raw:
            groups = raw["participants"]
            _require(
                isinstance(groups, Mapping) and len(groups) > 0,
                "participants: give at least one group as [participants.NAME]",
            )
            for name in groups:
                _require(
                    str(name).isidentifier(),
                    f"participants: group name {_key(name)} must be an identifier "
                    "(letters, _, digits)",
                )
            kwargs["participants"] = tuple(
                _build(ParticipantGroup, spec, f"participants.{name}", name=str(name))
                for name, spec in groups.items()
            )
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path) -> Scenario:
        """Load and validate a scenario file; errors are one-line :class:`ScenarioError`."""
        file = Path(path)
        if not file.is_file():
            raise ScenarioError(f"scenario: file not found: {path}; give a TOML file")
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ScenarioError(f"scenario: {path} is not valid TOML: {error}") from None
        except UnicodeDecodeError:
            raise ScenarioError(f"scenario: {path} is not UTF-8 text") from None
        return cls.from_dict(raw)

    @classmethod
    def from_toml_string(cls, text: str) -> Scenario:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ScenarioError(f"scenario: not valid TOML: {error}") from None
        return cls.from_dict(raw)


_SECTIONS: dict[str, type] = {
    "model": ModelSection,
    "data": DataSection,
    "train": TrainSection,
    "privacy": PrivacySection,
    "market": MarketSection,
}


def _field_type(cls: type, name: str) -> Any:
    hints = typing.get_type_hints(cls)
    return hints[name]


def _coerce(cls: type, name: str, value: Any, where: str) -> Any:
    """Check ``value`` against the declared type of ``cls.name``; ints widen to floats."""
    expected = _field_type(cls, name)
    if expected is float:
        _require(_number(value), f"{where}: must be a number, got {value!r}")
        return float(value)
    if expected is int:
        _require(_integer(value), f"{where}: must be an integer, got {value!r}")
        return value
    if expected is bool:
        _require(isinstance(value, bool), f"{where}: must be true or false, got {value!r}")
        return value
    if expected is str:
        _require(isinstance(value, str), f"{where}: must be a string, got {value!r}")
        return value
    if isinstance(expected, types.UnionType) or typing.get_origin(expected) is typing.Union:
        return value
    return value


def _build(cls: type, spec: Any, where: str, **extra: Any) -> Any:
    _require(isinstance(spec, Mapping), f"{where}: must be a table, got {spec!r}")
    known = {f.name for f in fields(cls)} - set(extra)
    for key in spec:
        _require(key in known, f"{where}.{_key(key)}: unknown key; allowed are {sorted(known)}")
    values = {key: _coerce(cls, key, value, f"{where}.{key}") for key, value in spec.items()}
    return cls(**values, **extra)


EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"


def list_examples() -> list[str]:
    """Names of the example scenarios shipped in ``examples/``."""
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.toml") if not p.stem.startswith("sweep"))


def load_example(name: str) -> Scenario:
    """Load ``examples/NAME.toml``."""
    path = EXAMPLES_DIR / f"{name}.toml"
    if not path.is_file():
        raise ScenarioError(f"example: no example named {name!r}; choose one of {list_examples()}")
    return Scenario.from_toml(path)
