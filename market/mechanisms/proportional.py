"""Proportional payment: the budget split in proportion to clipped contributions.

``p_i = B * max(phi_i, 0) / sum_j max(phi_j, 0)``; nothing is paid when no participant
contributed positively. Null and harmful participants get 0, but a participant whose share is
below its cost is not covered (no individual rationality), and with Shapley scores splitting
or replicating data pays (Han et al. 2022).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from market.mechanisms.base import Mechanism, Round, proportional_split
from market.types import FloatArray


@dataclass(frozen=True)
class Proportional(Mechanism):
    """Pay in proportion to the non-negative part of each contribution."""

    name: ClassVar[str] = "proportional"
    guarantees: ClassVar[frozenset[str]] = frozenset({"budget", "free_rider", "poisoner"})

    def _pay(self, round_: Round) -> FloatArray:
        return proportional_split(round_.positive, round_.budget)
