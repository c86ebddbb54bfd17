"""Reputation-weighted payment with beta reputation (Josang & Ismail 2002, "The beta
reputation system", Bled eCommerce Conference).

Each round a participant's evidence is its contribution relative to the round's best,
``r_i = clip(phi_i / max_j phi_j, 0, 1)``, recorded as ``r_i`` positive and ``1 - r_i`` negative
evidence after discounting older evidence by ``forgetting``. Its reputation is the expected
value ``(alpha + 1) / (alpha + beta + 2)`` of the beta posterior. The budget is split in
proportion to ``reputation * max(phi, 0)``; participants whose reputation falls below
``threshold`` are paid nothing and flagged in ``Allocation.excluded`` so the caller can drop
them from later rounds. Non-participants' evidence only decays. Pass ``Allocation.state`` into
the next round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Allocation, Mechanism, ReputationState, proportional_split
from market.types import BoolArray, FloatArray


@dataclass(frozen=True)
class Reputation(Mechanism):
    """Beta-reputation x contribution payments.

    Args:
        forgetting: discount of past evidence per round, in ``(0, 1]``.
        threshold: reputation below which a participant is excluded (and unpaid).
    """

    name: ClassVar[str] = "reputation"
    forgetting: float = 0.9
    threshold: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 < self.forgetting <= 1.0:
            raise ValueError(f"forgetting must be in (0, 1], got {self.forgetting}")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold}")

    def _allocate(
        self,
        contributions: FloatArray,
        budget: float,
        costs: FloatArray | None,
        participants: BoolArray,
        state: ReputationState | None,
    ) -> Allocation:
        n = contributions.size
        previous = ReputationState.initial(n) if state is None else state
        positive_part = np.clip(contributions, 0.0, None)
        best = float(positive_part[participants].max()) if participants.any() else 0.0
        evidence = positive_part / best if best > 0 else np.zeros(n)
        new_state = previous.updated(np.clip(evidence, 0.0, 1.0), participants, self.forgetting)
        scores = new_state.scores
        excluded = participants & (scores < self.threshold)
        weights = np.where(participants & ~excluded, scores * positive_part, 0.0)
        payments = proportional_split(weights, budget)
        return Allocation(
            payments=payments,
            selected=payments > 0,
            mechanism=self.name,
            budget=budget,
            excluded=excluded,
            state=new_state,
        )
