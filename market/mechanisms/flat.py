"""Flat payment: the budget split equally among participants (the baseline).

Not Sybil-resistant: ``k`` identities collect ``k`` shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Allocation, Mechanism, ReputationState
from market.types import BoolArray, FloatArray


@dataclass(frozen=True)
class Flat(Mechanism):
    """Equal split of the budget among participants."""

    name: ClassVar[str] = "flat"
    contribution_based: ClassVar[bool] = False

    def floor(self, budget: float, n_participants: int) -> float:
        """Everyone gets the equal share."""
        return budget / n_participants if n_participants else 0.0

    def _allocate(
        self,
        contributions: FloatArray,
        budget: float,
        costs: FloatArray | None,
        participants: BoolArray,
        state: ReputationState | None,
    ) -> Allocation:
        count = int(participants.sum())
        share = budget / count if count else 0.0
        payments = np.where(participants, share, 0.0)
        if payments.sum() > budget:
            payments *= budget / payments.sum()
        return Allocation(
            payments=payments, selected=participants.copy(), mechanism=self.name, budget=budget
        )
