"""Flat payment: the budget split equally among participants (the baseline).

Pays free riders, poisoners and every Sybil identity a full share: it guarantees only budget
balance, and serves as the reference the other rules are measured against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Mechanism, Round
from market.types import FloatArray


@dataclass(frozen=True)
class Flat(Mechanism):
    """Equal split of the budget among participants."""

    name: ClassVar[str] = "flat"

    def _pay(self, round_: Round) -> FloatArray:
        count = int(round_.participants.sum())
        out: FloatArray = np.full(round_.participants.size, round_.budget / count if count else 0.0)
        return out
