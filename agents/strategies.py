"""Participant strategies: what a participant does with its data and compute each round.

A strategy is a typed object (one per participant group, built by
:func:`agents.compile.compile_scenario`) that :class:`agents.participants.ParticipantAgent`
consults at fixed points: its labels, its pace, whether it trains, what it sends instead when
it does not, what it does to what it trained, and whether it copies a peer. The platform
never sees it: it sees an update, a bid and a declared size. Built-in strategies are
documented in :mod:`agents.participants`; a researcher's own is a subclass registered with
:func:`register_strategy` and then named in a scenario like a built-in one
(``strategy = "<name>"``; ``examples/plugins``).

Built-in strategies (``participants.NAME.strategy``):

* ``honest``: trains on its data and sends the update;
* ``free_rider``: does not train (pays no compute cost) and sends a zero update, a stale one
  (the last global step it saw), or a *disguised* one: the last global step plus Gaussian
  noise whose norm is ``disguise_noise`` times the step's (Fraboni, Vidal & Lorenzi 2021,
  "Free-rider attacks on model aggregation in federated learning", AISTATS);
* ``noisy``: trains on labels of which ``flip_rate`` are flipped (a label-flipper);
* ``poisoner``: trains, then sends its update multiplied by ``poison_scale``
  (-1: sign-flipped; 3: boosted);
* ``sybil``: one owner shows ``sybil_identities`` identities; ``sybil_mode = "split"``
  divides its data and compute over them (each trains honestly on its part);
  ``"replicate"`` shows all its data under every identity: the first selected identity
  trains, the others send its update (plus ``copy_noise``) at no compute cost;
* ``copycat``: does not train; sends the update a random other identity sent in the last
  round it was included, plus ``copy_noise`` (an eavesdropper or a colluder's leak);
* ``replay``: does not train; sends the global step of ``replay_lag`` rounds back, rescaled
  to the norm of the last step, plus ``copy_noise`` (a replay of any earlier step, not only
  the last: what the stale-step screen cannot see);
* ``plagiarist``: trains honestly, but on a copy of the first owner's data (the same data
  under a second identity);
* ``lazy``: trains only ``lazy_samples`` samples a round (its cost shrinks in proportion);
* ``colluder``: the owners of one colluder group pool their data; the first selected one
  trains on the pool and every other selected one sends a near-copy of that update
  (relative Gaussian ``copy_noise``, e.g. 0.2 to evade a 0.995-cosine replica detector)
  without training. The attack on coalition scoring: near-copies make the colluders look
  like several independent contributors of the pooled data's value while only one pays
  the compute.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol

import numpy as np

from market.registry import Registry


class Participant(Protocol):
    """What a strategy reads of its participant (``ParticipantAgent``)."""

    speed: float
    stream: np.random.Generator
    last_sent: np.ndarray | None
    model: Any  # the Mesa model (its global steps, its other participants, its scenario)

    def noisy(self, vector: np.ndarray, relative: float) -> np.ndarray: ...


@dataclass(frozen=True)
class Strategy:
    """Honest behaviour; subclasses override the hooks they change.

    A subclass's settings are its dataclass fields, named like the participant group's
    fields they are read from (``poison_scale``, ``copy_noise``, ...): :func:`make_strategy`
    fills them from the group.
    """

    name: ClassVar[str] = "honest"
    trains: ClassVar[bool] = True
    """Whether it spends compute on real local training."""
    checks_own_update: ClassVar[bool] = True
    """Whether it runs the client-side validity check before masking (a deviant skips it)."""
    keeps_sent: ClassVar[bool] = False
    """Whether the model must keep every identity's last sent update (a copycat reads them)."""
    pools_data: ClassVar[bool] = False
    """Whether a copying group's leader trains on the pooled data of its peers."""

    @classmethod
    def identities_of(cls, group: Any) -> int:
        """Identities each owner of ``group`` shows the platform (a Sybil: several)."""
        return 1

    @classmethod
    def held_copies(cls, group: Any) -> int:
        """How many times an owner's data are held over its identities (a replicating Sybil
        holds them once per identity), for the memory budget."""
        return 1

    def copies_from(self) -> str | None:
        """The attribute (``"owner"``, ``"group"``) whose selected identities share one
        trained update, the leader's; ``None``: it never sends a peer's update."""
        return None

    def identity_parts(self, identities: int) -> int:
        """How many parts an owner's data are split into over its ``identities``."""
        return identities

    def identity_order(self, labels: np.ndarray) -> np.ndarray:
        """The order of an owner's examples before they are split over its identities."""
        return np.arange(len(labels))

    def copies_data_of_first_owner(self) -> bool:
        """Whether it trains on a copy of the first owner's data (a plagiarist)."""
        return False

    def labels(self, labels: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
        """The labels it trains on (its own, or corrupted on purpose)."""
        return labels

    def steps_kept(self) -> int:
        """How many past global steps the model must keep for it (a replay reads them)."""
        return 1

    def samples_per_second(self, agent: Participant, deadline_s: float) -> float:
        """Its training pace this round."""
        return agent.speed

    def compute_share(self, agent: Participant, samples: int, deadline_s: float) -> float:
        """The share of a full round's fixed cost it spent."""
        return 1.0

    def untrained_update(
        self, agent: Participant, global_vector: np.ndarray, last_step: np.ndarray | None
    ) -> np.ndarray:
        """What it sends without training (only asked when :attr:`trains` is false)."""
        return np.zeros_like(global_vector, dtype=np.float32)

    def sent(self, agent: Participant, delta: np.ndarray) -> np.ndarray:
        """What it sends of what it trained."""
        return delta


@dataclass(frozen=True)
class FreeRider(Strategy):
    """Does not train; sends zeros, the last global step, or that step plus noise
    (Fraboni, Vidal & Lorenzi 2021)."""

    name: ClassVar[str] = "free_rider"
    trains: ClassVar[bool] = False
    free_ride: str = "zero"
    disguise_noise: float = 0.0

    def untrained_update(
        self, agent: Participant, global_vector: np.ndarray, last_step: np.ndarray | None
    ) -> np.ndarray:
        mode = self.free_ride
        if mode in ("stale", "disguised") and last_step is not None:
            return agent.noisy(last_step, self.disguise_noise if mode == "disguised" else 0.0)
        return super().untrained_update(agent, global_vector, last_step)


@dataclass(frozen=True)
class Noisy(Strategy):
    """Trains on labels of which ``flip_rate`` are flipped."""

    name: ClassVar[str] = "noisy"
    flip_rate: float = 0.0

    def labels(self, labels: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
        from fl_core.partition import flip_labels

        return flip_labels(labels, self.flip_rate, n_classes, rng)


@dataclass(frozen=True)
class Poisoner(Strategy):
    """Trains, then sends its update times ``poison_scale``; skips the client-side check."""

    name: ClassVar[str] = "poisoner"
    checks_own_update: ClassVar[bool] = False
    poison_scale: float = 1.0

    def sent(self, agent: Participant, delta: np.ndarray) -> np.ndarray:
        return (self.poison_scale * delta).astype(np.float32)


@dataclass(frozen=True)
class Sybil(Strategy):
    """Several identities: its data split (or split by class), or replicated under each."""

    name: ClassVar[str] = "sybil"
    sybil_mode: str = "split"

    @classmethod
    def identities_of(cls, group: Any) -> int:
        return int(group.sybil_identities)

    @classmethod
    def held_copies(cls, group: Any) -> int:
        return int(group.sybil_identities) if group.sybil_mode == "replicate" else 1

    def copies_from(self) -> str | None:
        return "owner" if self.sybil_mode == "replicate" else None

    def identity_parts(self, identities: int) -> int:
        return 1 if self.sybil_mode == "replicate" else identities

    def identity_order(self, labels: np.ndarray) -> np.ndarray:
        if self.sybil_mode == "complementary":
            return np.argsort(labels, kind="stable")  # by class
        return super().identity_order(labels)


@dataclass(frozen=True)
class Colluder(Strategy):
    """The group pools its data; its leader trains, the others send near-copies."""

    name: ClassVar[str] = "colluder"
    pools_data: ClassVar[bool] = True

    def copies_from(self) -> str | None:
        return "group"


@dataclass(frozen=True)
class Copycat(Strategy):
    """Does not train; sends a random other identity's last sent update plus noise."""

    name: ClassVar[str] = "copycat"
    trains: ClassVar[bool] = False
    keeps_sent: ClassVar[bool] = True
    copy_noise: float = 0.0

    def untrained_update(
        self, agent: Participant, global_vector: np.ndarray, last_step: np.ndarray | None
    ) -> np.ndarray:
        everyone = sorted(agent.model.agents_by_type[type(agent)], key=lambda p: p.pid)
        sent = [p.last_sent for p in everyone if p is not agent and p.last_sent is not None]
        if not sent:
            return super().untrained_update(agent, global_vector, last_step)
        return agent.noisy(sent[int(agent.stream.integers(len(sent)))], self.copy_noise)


@dataclass(frozen=True)
class Replay(Strategy):
    """Does not train; sends the global step of ``replay_lag`` rounds back, rescaled to the
    last step's norm, plus noise."""

    name: ClassVar[str] = "replay"
    trains: ClassVar[bool] = False
    replay_lag: int = 2
    copy_noise: float = 0.0

    def steps_kept(self) -> int:
        return int(self.replay_lag)

    def untrained_update(
        self, agent: Participant, global_vector: np.ndarray, last_step: np.ndarray | None
    ) -> np.ndarray:
        steps = agent.model.global_steps
        if not steps:
            return super().untrained_update(agent, global_vector, last_step)
        old = steps[max(len(steps) - self.replay_lag, 0)]
        norm = float(np.linalg.norm(old))
        scale = float(np.linalg.norm(steps[-1])) / norm if norm > 0 else 0.0
        return agent.noisy(old * scale, self.copy_noise)


@dataclass(frozen=True)
class Plagiarist(Strategy):
    """Trains honestly on a copy of the first owner's data."""

    name: ClassVar[str] = "plagiarist"

    def copies_data_of_first_owner(self) -> bool:
        return True


@dataclass(frozen=True)
class Lazy(Strategy):
    """Trains ``lazy_samples`` samples a round; its cost shrinks in proportion."""

    name: ClassVar[str] = "lazy"
    lazy_samples: int = 16

    def samples_per_second(self, agent: Participant, deadline_s: float) -> float:
        return min(agent.speed, (self.lazy_samples + 0.5) / deadline_s)  # floor-safe

    def compute_share(self, agent: Participant, samples: int, deadline_s: float) -> float:
        full = agent.speed * deadline_s
        return min(1.0, samples / full) if full > 0 else 0.0


STRATEGIES: Registry[Strategy] = Registry(
    "strategy",
    {
        cls.name: cls
        for cls in (
            Strategy,
            FreeRider,
            Noisy,
            Poisoner,
            Sybil,
            Colluder,
            Copycat,
            Replay,
            Plagiarist,
            Lazy,
        )
    },
    base=Strategy,
)
"""Participant strategies by ``participants.NAME.strategy`` name."""


def register_strategy(name: str, cls: type[Strategy], *, replace: bool = False) -> None:
    """Make ``cls`` (a :class:`Strategy` subclass) a participant strategy named ``name``."""
    STRATEGIES.register(name, cls, replace=replace)


def make_strategy(name: str, group: object) -> Strategy:
    """The strategy registered as ``name``, its settings read from the participant group's
    fields of the same names (``agents.scenario.ParticipantGroup``).

    Raises:
        ValueError: ``name`` is not registered, or it has a setting the group lacks.
    """
    cls = STRATEGIES[name] if name in STRATEGIES else None
    if cls is None:
        return STRATEGIES.make(name)  # the registry's one-line error
    settings = {}
    for setting in fields(cls):  # type: ignore[arg-type]  # a registered Strategy dataclass
        if not hasattr(group, setting.name):
            raise ValueError(
                f"strategy {name!r}: setting {setting.name!r} is not a participant-group field"
            )
        settings[setting.name] = getattr(group, setting.name)
    return STRATEGIES.make(name, **settings)
