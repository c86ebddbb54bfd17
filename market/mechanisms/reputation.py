"""Reputation-weighted payment on the marketplace's one reputation policy.

Reads the beta reputation kept by :class:`market.reputation.ReputationPolicy` (Josang &
Ismail 2002, "The beta reputation system", Bled eCommerce Conference); it neither updates nor
keeps a state of its own: the caller observes each round with the policy and passes the state.
Excluded identities get 0. Positive contributors' costs are covered first (as in
``shapley_fair``), then the surplus is split in proportion to ``reputation * max(phi, 0)``, so
a participant with a history of poor rounds earns less of the surplus for the same score.
Without a state every reputation is 1/2 and the rule equals ``shapley_fair``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Mechanism, Round, cover_then_share
from market.types import FloatArray


@dataclass(frozen=True)
class Reputation(Mechanism):
    """Cost cover plus a surplus split by reputation x contribution."""

    name: ClassVar[str] = "reputation"
    guarantees: ClassVar[frozenset[str]] = frozenset({"budget", "ir", "free_rider", "poisoner"})

    def _pay(self, round_: Round) -> FloatArray:
        scores = np.full(round_.participants.size, 0.5)
        if round_.state is not None:
            scores = round_.state.scores
        return cover_then_share(round_, scores * round_.positive)
