"""Proportional payment: the budget split in proportion to clipped contributions.

``p_i = B * max(phi_i, 0) / sum_j max(phi_j, 0)``; nothing is paid when no participant
contributed positively. Null and harmful participants get 0. With Shapley contributions this
is Shapley-proportional; it is not Sybil-proof (see ``market.metrics.sybil_gain``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Allocation, Mechanism, ReputationState, proportional_split
from market.types import BoolArray, FloatArray


@dataclass(frozen=True)
class Proportional(Mechanism):
    """Pay in proportion to the non-negative part of each contribution."""

    name: ClassVar[str] = "proportional"

    def _allocate(
        self,
        contributions: FloatArray,
        budget: float,
        costs: FloatArray | None,
        participants: BoolArray,
        state: ReputationState | None,
    ) -> Allocation:
        weights = np.where(participants, np.clip(contributions, 0.0, None), 0.0)
        payments = proportional_split(weights, budget)
        return Allocation(
            payments=payments, selected=payments > 0, mechanism=self.name, budget=budget
        )
