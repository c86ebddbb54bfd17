"""The :class:`Scenario`: one marketplace simulation, frozen, validated, TOML round-trippable."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.scenario.errors import ScenarioError, key_text, require
from agents.scenario.fields import build, coerce, field_names, parse_toml, read_toml, to_table
from agents.scenario.groups import ParticipantGroup
from agents.scenario.limits import check_budget
from agents.scenario.sections import (
    SECTIONS,
    EconomicsSection,
    MarketSection,
    PrivacySection,
    without_removed,
)
from agents.scenario.spec import check_fields, setting
from agents.scenario.text import MAX_GROUPS, MAX_NAME_CHARS, check_text
from agents.scenario.training import DataSection, ModelSection, TrainSection


def _default_groups() -> tuple[ParticipantGroup, ...]:
    return (ParticipantGroup(name="honest", count=6, data_size=300),)


def check_compatible(scenario: Scenario) -> None:
    """Cross-section rules that no single section can check (run at construction)."""
    from fl_core.aggregation import LINEAR_AGGREGATORS

    if scenario.privacy.secure_aggregation and scenario.train.aggregator not in LINEAR_AGGREGATORS:
        raise ScenarioError(
            "train.aggregator",
            f"{scenario.train.aggregator!r} needs every update in the clear; use 'fedavg' "
            "with privacy.secure_aggregation = true",
        )
    if scenario.privacy.secure_aggregation and scenario.train.compression == "topk":
        raise ScenarioError(
            "train.compression",
            "'topk' sends a different index set per client, which per-coordinate masks cannot "
            "hide; use 'int8' or 'none' with privacy.secure_aggregation = true",
        )
    import market

    estimator = market.make_estimator(scenario.market.scoring)
    valuation = market.MECHANISMS[scenario.market.mechanism].valuation  # type: ignore[attr-defined]
    dp = scenario.privacy.dp.enabled
    if scenario.privacy.dp.menu and not dp:
        raise ScenarioError(
            "privacy.dp.menu", "offers clip factors of DP noise; set privacy.dp.enabled = true"
        )
    if dp and scenario.privacy.dp.delta >= 1 / scenario.n_identities:
        raise ScenarioError(
            "privacy.dp.delta",
            f"must be below 1 / the {scenario.n_identities} identities (a delta that large "
            "allows one participant's data to leak outright); use 1e-5",
        )
    if dp and scenario.train.aggregator not in LINEAR_AGGREGATORS:
        raise ScenarioError(
            "train.aggregator",
            f"{scenario.train.aggregator!r} is not a sum, so the noise of DP-FedAvg would not "
            "carry through it; use 'fedavg' with privacy.dp.enabled = true",
        )
    if scenario.privacy.access == "secure_coalitions" or dp:  # no update read for scoring
        why = "privacy.access = 'secure_coalitions'" if not dp else "privacy.dp.enabled = true"
        for path, reader in (("market.scoring", estimator), ("market.mechanism", valuation)):
            if reader is not None and "updates" in reader.needs:
                raise ScenarioError(
                    path,
                    f"{getattr(scenario.market, path.split('.')[1])!r} reads individual "
                    f"updates; use a utility-based method with {why}",
                )
    limit = getattr(estimator, "max_players", None)
    if limit is not None and scenario.n_identities > limit:
        raise ScenarioError(
            "market.scoring",
            f"{scenario.market.scoring!r} scores at most {limit} participants a round and "
            f"this scenario has {scenario.n_identities} identities; choose another method",
        )


@dataclass(frozen=True)
class Scenario:
    """One marketplace simulation: rounds and seed, and one section per concern.

    Every field is validated at construction, registry names (scoring method, mechanism)
    and cross-section rules included; a bad value raises :class:`ScenarioError` whose
    ``.path`` names the field.
    """

    name: str = setting("default", "A label for the scenario (file names, chart titles).")
    rounds: int = setting(5, "Federated rounds to simulate.", within="[1, 10000]")
    seed: int = setting(
        0,
        "Seeds every random choice (data split, availability, sampling): same seed, same run.",
        within=f"[0, {2**63})",
    )
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    privacy: PrivacySection = field(default_factory=PrivacySection)
    market: MarketSection = field(default_factory=MarketSection)
    economics: EconomicsSection = field(default_factory=EconomicsSection)
    participants: tuple[ParticipantGroup, ...] = field(default_factory=_default_groups)

    def __post_init__(self) -> None:
        require(
            isinstance(self.name, str), "name", f"must be a string, got {type(self.name).__name__}"
        )
        check_text(self.name, "name", MAX_NAME_CHARS)
        check_fields(self, "")
        for name, cls in SECTIONS.items():
            require(
                isinstance(getattr(self, name), cls),
                name,
                f"must be a {cls.__name__}, got {type(getattr(self, name)).__name__}",
            )
        require(
            isinstance(self.participants, tuple)
            and len(self.participants) > 0
            and all(isinstance(g, ParticipantGroup) for g in self.participants),
            "participants",
            "give at least one group as [participants.NAME]",
        )
        names = [g.name for g in self.participants]
        require(len(set(names)) == len(names), "participants", f"group names repeat: {names}")
        require(
            self.n_identities >= 1,
            "participants",
            "every group has count = 0; give at least one participant",
        )
        for name in SECTIONS:  # paths, column names, labels: printable and bounded
            section = getattr(self, name)
            for f in dataclasses.fields(section):
                if isinstance(value := getattr(section, f.name), str):
                    check_text(value, f"{name}.{f.name}")
        check_budget(self)  # before anything is compiled or allocated
        check_compatible(self)

    @property
    def n_identities(self) -> int:
        """Participant identities the platform sees (a Sybil counts once per identity)."""
        return sum(g.count * g.identities for g in self.participants)

    def group(self, name: str) -> ParticipantGroup:
        """The participant group called ``name``."""
        for g in self.participants:
            if g.name == name:
                return g
        raise ScenarioError(
            f"participants.{name}",
            f"no such group; groups are {[g.name for g in self.participants]}",
        )

    # ----- dotted paths (sweeps) -----
    def replace(self, path: str, value: Any) -> Scenario:
        """A copy with the field at dotted ``path`` set (e.g. ``market.mechanism``,
        ``participants.free_riders.count``), validated like everything else."""
        parts = path.split(".")
        if parts[0] == "participants":
            require(len(parts) == 3, path, "use participants.GROUP.FIELD")
            group = self.group(parts[1])
            require(
                parts[2] in field_names(ParticipantGroup) - {"name"},
                path,
                f"unknown participant field {parts[2]!r}",
            )
            new_group = dataclasses.replace(
                group, **{parts[2]: coerce(ParticipantGroup, parts[2], value, path)}
            )
            groups = tuple(new_group if g.name == group.name else g for g in self.participants)
            return dataclasses.replace(self, participants=groups)
        if len(parts) == 1:
            require(parts[0] in ("name", "rounds", "seed"), path, "unknown scenario field")
            return dataclasses.replace(self, **{parts[0]: coerce(Scenario, parts[0], value, path)})
        if len(parts) == 3 and parts[0] in SECTIONS:  # a nested table, e.g. privacy.dp.epsilon
            outer = getattr(self, parts[0])
            require(
                parts[1] in field_names(type(outer))
                and dataclasses.is_dataclass(getattr(outer, parts[1])),
                path,
                f"unknown table {parts[1]!r} in [{parts[0]}]",
            )
            inner = getattr(outer, parts[1])
            require(
                parts[2] in field_names(type(inner)),
                path,
                f"unknown field {parts[2]!r} in [{parts[0]}.{parts[1]}]",
            )
            value = coerce(type(inner), parts[2], value, path)
            new_outer = dataclasses.replace(
                outer, **{parts[1]: dataclasses.replace(inner, **{parts[2]: value})}
            )
            return dataclasses.replace(self, **{parts[0]: new_outer})
        require(len(parts) == 2, path, "use SECTION.FIELD")
        section_name, key = parts
        require(
            section_name in SECTIONS,
            path,
            f"unknown section {section_name!r}; use one of {sorted(SECTIONS)}",
        )
        section = getattr(self, section_name)
        require(
            key in field_names(type(section)), path, f"unknown field {key!r} in [{section_name}]"
        )
        new_section = dataclasses.replace(section, **{key: coerce(type(section), key, value, path)})
        return dataclasses.replace(self, **{section_name: new_section})

    def get(self, path: str) -> Any:
        """The value at dotted ``path``."""
        parts = path.split(".")
        if parts[0] == "participants" and len(parts) == 3:
            return getattr(self.group(parts[1]), parts[2])
        value: Any = self
        for part in parts:
            require(hasattr(value, part), path, "unknown field")
            value = getattr(value, part)
        return value

    # ----- TOML -----
    def to_dict(self) -> dict[str, Any]:
        """Plain tables, as in a TOML file."""
        out: dict[str, Any] = {"name": self.name, "rounds": self.rounds, "seed": self.seed}
        for section in SECTIONS:
            out[section] = to_table(getattr(self, section))
        out["participants"] = {g.name: to_table(g, drop=("name",)) for g in self.participants}
        return out

    def to_toml(self) -> str:
        """The scenario as TOML text (``from_toml_string`` gives it back)."""
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Scenario:
        """Build and validate a scenario from tables; unknown keys and wrong types rejected."""
        require(isinstance(raw, Mapping), "scenario", "the top level must be a table")
        allowed = {"name", "rounds", "seed", "participants", *SECTIONS}
        for key in raw:
            require(key in allowed, key_text(key), f"unknown key; allowed are {sorted(allowed)}")
        kwargs: dict[str, Any] = {}
        for key in ("name", "rounds", "seed"):
            if key in raw:
                kwargs[key] = coerce(Scenario, key, raw[key], key)
        for section_name, section_cls in SECTIONS.items():
            if section_name in raw:
                table = without_removed(section_name, raw[section_name])
                kwargs[section_name] = build(section_cls, table, section_name)
        if "participants" in raw:
            groups = raw["participants"]
            require(
                isinstance(groups, Mapping) and len(groups) > 0,
                "participants",
                "give at least one group as [participants.NAME]",
            )
            require(
                len(groups) <= MAX_GROUPS,
                "participants",
                f"{len(groups):,} groups exceed the limit of {MAX_GROUPS}; merge groups that "
                "share a profile (raise their count)",
            )
            for name in groups:
                require(
                    str(name).isidentifier(),
                    "participants",
                    f"group name {key_text(name)} must be an identifier (letters, _, digits)",
                )
            kwargs["participants"] = tuple(
                build(ParticipantGroup, spec, f"participants.{name}", name=str(name))
                for name, spec in groups.items()
            )
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path) -> Scenario:
        """Load and validate a scenario file; errors are one-line :class:`ScenarioError`."""
        return cls.from_dict(read_toml(path, "scenario"))

    @classmethod
    def from_toml_string(cls, text: str) -> Scenario:
        """Parse and validate scenario TOML text."""
        return cls.from_dict(parse_toml(text, "scenario"))
