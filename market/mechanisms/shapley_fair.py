"""Shapley-fair payment with a participation floor.

A fraction ``floor_share`` of the budget is split equally among participants (a reward for
taking part, which covers part of their cost); the rest is split in proportion to clipped
non-negative contributions (the Shapley values when scored with a Shapley method), as in the
fair profit-sharing schemes of Song, Tong & Wei 2019. A null participant gets exactly the
floor. The floor is a per-identity payment, so it adds Sybil gain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Allocation, Mechanism, ReputationState, proportional_split
from market.types import BoolArray, FloatArray


@dataclass(frozen=True)
class ShapleyFair(Mechanism):
    """Equal floor plus a contribution-proportional remainder.

    Args:
        floor_share: fraction of the budget paid as equal floors, in ``[0, 1]``.
    """

    name: ClassVar[str] = "shapley_fair"
    floor_share: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.floor_share <= 1.0:
            raise ValueError(f"floor_share must be in [0, 1], got {self.floor_share}")

    def floor(self, budget: float, n_participants: int) -> float:
        """``floor_share * budget / n_participants``."""
        return self.floor_share * budget / n_participants if n_participants else 0.0

    def _allocate(
        self,
        contributions: FloatArray,
        budget: float,
        costs: FloatArray | None,
        participants: BoolArray,
        state: ReputationState | None,
    ) -> Allocation:
        count = int(participants.sum())
        floors = np.where(participants, self.floor(budget, count), 0.0)
        weights = np.where(participants, np.clip(contributions, 0.0, None), 0.0)
        payments = floors + proportional_split(weights, budget - float(floors.sum()))
        if payments.sum() > budget:
            payments *= budget / payments.sum()
        return Allocation(
            payments=payments, selected=participants.copy(), mechanism=self.name, budget=budget
        )
