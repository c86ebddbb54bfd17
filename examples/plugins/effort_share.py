"""A third-party mechanism and participant strategy, registered by name.

Load it with the environment variable ``FEDMARKET_PLUGINS`` (a module name or a ``.py``
path; several are separated by ``os.pathsep``), then name its parts in a scenario like
built-in ones::

    FEDMARKET_PLUGINS=examples/plugins/effort_share.py \\
        fedmarket run examples/plugins/effort_share.toml
    FEDMARKET_PLUGINS=examples/plugins/effort_share.py \\
        fedmarket attack-matrix examples/plugins/effort_share.toml --mechanism effort_share \\
        --seed 0
    FEDMARKET_PLUGINS=examples/plugins/effort_share.py make app

An installed package registers the same module under the ``fedmarket.plugins`` entry-point
group instead (``[project.entry-points."fedmarket.plugins"]``).

* ``effort_share`` (:class:`EffortShare`): the round budget split in proportion to each
  helpful participant's metered effort (the distinct examples the platform saw it train on),
  nothing to a participant whose contribution is not positive.
* ``noise_adder`` (:class:`NoiseAdder`): a participant that trains honestly and adds
  Gaussian noise of relative norm ``copy_noise`` to its update before sending it (a
  privacy-minded owner without differential privacy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import market
from agents.strategies import Participant, Strategy, register_strategy
from market.mechanisms import Mechanism, Round
from market.types import FloatArray


@dataclass(frozen=True)
class EffortShare(Mechanism):
    """Pay helpful participants in proportion to their metered effort."""

    name: ClassVar[str] = "effort_share"
    guarantees: ClassVar[frozenset[str]] = frozenset({"budget", "free_rider", "poisoner"})

    def _pay(self, round_: Round) -> FloatArray:
        effort = np.ones_like(round_.contributions) if round_.effort is None else round_.effort
        weights = np.where(round_.participants & (round_.contributions > 0), effort, 0.0)
        total = float(weights.sum())
        if total <= 0:
            return np.zeros_like(weights)
        paid: FloatArray = round_.budget * weights / total
        return paid


@dataclass(frozen=True)
class NoiseAdder(Strategy):
    """Trains honestly, then sends its update plus noise of relative norm ``copy_noise``
    (a setting read from the participant group's field of that name)."""

    name: ClassVar[str] = "noise_adder"
    copy_noise: float = 0.0

    def sent(self, agent: Participant, delta: np.ndarray) -> np.ndarray:
        return agent.noisy(delta, self.copy_noise)


market.register_mechanism("effort_share", EffortShare, replace=True)
register_strategy("noise_adder", NoiseAdder, replace=True)
