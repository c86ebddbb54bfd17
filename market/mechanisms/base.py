"""What every reward mechanism shares: the allocation result, reputation state, validation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from market.types import BoolArray, FloatArray

BUDGET_SLACK = 1e-9
"""Relative slack for floating-point sums; payments are rescaled to stay within budget."""


@dataclass(frozen=True, eq=False)
class ReputationState:
    """Beta reputation evidence per player (Josang & Ismail 2002).

    Attributes:
        alpha: accumulated positive evidence.
        beta: accumulated negative evidence.
    """

    alpha: FloatArray
    beta: FloatArray

    def __post_init__(self) -> None:
        alpha = np.asarray(self.alpha, dtype=np.float64)
        beta = np.asarray(self.beta, dtype=np.float64)
        if alpha.ndim != 1 or alpha.shape != beta.shape:
            raise ValueError("alpha and beta must be 1-D arrays of equal shape")
        if np.any(alpha < 0) or np.any(beta < 0) or not np.all(np.isfinite(alpha + beta)):
            raise ValueError("alpha and beta must be finite and >= 0")
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "beta", beta)

    @classmethod
    def initial(cls, n_players: int) -> ReputationState:
        """No evidence: every reputation is 1/2."""
        return cls(alpha=np.zeros(n_players), beta=np.zeros(n_players))

    @property
    def scores(self) -> FloatArray:
        """Expected reputation ``(alpha + 1) / (alpha + beta + 2)`` in ``(0, 1)``."""
        out: FloatArray = (self.alpha + 1.0) / (self.alpha + self.beta + 2.0)
        return out

    def updated(
        self, positive: FloatArray, participants: BoolArray, forgetting: float
    ) -> ReputationState:
        """Discount old evidence by ``forgetting`` and add this round's ``positive`` in
        ``[0, 1]`` (and ``1 - positive`` as negative evidence) for participants."""
        pos = np.where(participants, positive, 0.0)
        neg = np.where(participants, 1.0 - positive, 0.0)
        return ReputationState(
            alpha=forgetting * self.alpha + pos, beta=forgetting * self.beta + neg
        )


@dataclass(frozen=True, eq=False)
class Allocation:
    """Payments of one round.

    Attributes:
        payments: non-negative payment per player; ``payments.sum() <= budget``.
        selected: players paid or selected (auction winners).
        mechanism: name of the mechanism.
        budget: the round budget.
        excluded: players the mechanism recommends excluding from future rounds.
        state: updated reputation state, for mechanisms that keep one.
        info: mechanism-specific numbers (e.g. the auction's price per unit value).
    """

    payments: FloatArray
    selected: BoolArray
    mechanism: str
    budget: float
    excluded: BoolArray | None = None
    state: ReputationState | None = None
    info: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        payments = np.asarray(self.payments, dtype=np.float64)
        if np.any(payments < 0) or not np.all(np.isfinite(payments)):
            raise ValueError("payments must be finite and >= 0")
        if payments.sum() > self.budget * (1 + BUDGET_SLACK) + 1e-12:
            raise ValueError(f"payments sum {payments.sum()} exceeds the budget {self.budget}")
        object.__setattr__(self, "payments", payments)
        object.__setattr__(self, "selected", np.asarray(self.selected, dtype=bool))
        if self.excluded is None:
            object.__setattr__(self, "excluded", np.zeros_like(self.selected))

    @property
    def total(self) -> float:
        """Sum of payments."""
        return float(self.payments.sum())


class Mechanism(ABC):
    """A reward rule: contributions (and costs/bids, state) to payments within a budget.

    Subclasses are frozen dataclasses holding their options and implement :meth:`_allocate`.
    """

    name: ClassVar[str]
    contribution_based: ClassVar[bool] = True
    """Payments depend on contributions (a null participant gets at most :meth:`floor`)."""

    def floor(self, budget: float, n_participants: int) -> float:
        """Guaranteed payment to any participant, whatever it contributed."""
        return 0.0

    def allocate(
        self,
        contributions: FloatArray,
        *,
        budget: float,
        costs: FloatArray | None = None,
        participants: BoolArray | None = None,
        state: ReputationState | None = None,
    ) -> Allocation:
        """Pay participants for one round.

        Args:
            contributions: per-player contribution scores, shape ``(n,)`` (``NaN`` allowed
                for non-participants).
            budget: the most that may be paid in total, ``>= 0``.
            costs: per-player costs; the auction treats them as bids (required there).
            participants: who took part (default: everyone); others are paid 0.
            state: reputation state carried between rounds (reputation, auction).
        """
        c = np.asarray(contributions, dtype=np.float64)
        if c.ndim != 1 or c.size < 1:
            raise ValueError(f"contributions must be a non-empty 1-D array, got shape {c.shape}")
        n = c.size
        if not np.isfinite(budget) or budget < 0:
            raise ValueError(f"budget must be finite and >= 0, got {budget}")
        mask = np.ones(n, dtype=bool) if participants is None else np.asarray(participants)
        if mask.shape != (n,) or mask.dtype != np.bool_:
            raise ValueError(f"participants must be a bool array of shape ({n},)")
        if not np.all(np.isfinite(c[mask])):
            raise ValueError("contributions of participants must be finite")
        cost_arr: FloatArray | None = None
        if costs is not None:
            cost_arr = np.asarray(costs, dtype=np.float64)
            if cost_arr.shape != (n,) or np.any(cost_arr[mask] < 0):
                raise ValueError(f"costs must have shape ({n},) and be >= 0 for participants")
        if state is not None and state.alpha.shape != (n,):
            raise ValueError(f"state must cover {n} players, got {state.alpha.shape[0]}")
        clean = np.where(mask, c, 0.0)
        return self._allocate(clean, float(budget), cost_arr, mask, state)

    @abstractmethod
    def _allocate(
        self,
        contributions: FloatArray,
        budget: float,
        costs: FloatArray | None,
        participants: BoolArray,
        state: ReputationState | None,
    ) -> Allocation:
        """Allocate with validated inputs (non-participants' contributions are 0)."""


def proportional_split(weights: FloatArray, amount: float) -> FloatArray:
    """Split ``amount`` in proportion to non-negative ``weights`` (all 0 if they sum to 0)."""
    total = float(weights.sum())
    if total <= 0.0 or amount <= 0.0:
        return np.zeros_like(weights)
    out: FloatArray = amount * (weights / total)
    excess = float(out.sum())
    if excess > amount:  # guard against rounding up
        out *= amount / excess
    return out
