"""The data of one round: who trains (:class:`Selection`, chosen from :class:`Offers`) and what
is paid (:class:`Allocation`, computed from a validated :class:`Round`).

:class:`market.mechanisms.Mechanism` builds these; a rule's ``_pay`` and ``_choose`` read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from market.mechanisms.ledger import PaymentLedger
from market.reputation import ReputationState
from market.types import BoolArray, FloatArray, IntArray

BUDGET_SLACK = 1e-9
"""Relative slack for floating-point sums; payments are rescaled to stay within budget."""


@dataclass(frozen=True, eq=False)
class Selection:
    """Who trains this round.

    Attributes:
        selected: candidates chosen to train.
        excluded: candidates refused because the reputation policy excluded them.
        escrow: the most each selected identity can be paid (the auction's critical
            payments; 0 for mechanisms that escrow nothing).
        mechanism: name of the mechanism.
        info: mechanism-specific numbers (the auction's price per unit value).
    """

    selected: BoolArray
    excluded: BoolArray
    escrow: FloatArray
    mechanism: str
    info: Mapping[str, float] = field(default_factory=dict)

    @property
    def lost(self) -> BoolArray:
        """Candidates neither selected nor excluded (they lost the auction)."""
        out: BoolArray = ~self.selected & ~self.excluded
        return out


@dataclass(frozen=True, eq=False)
class Allocation:
    """Payments of one round.

    Attributes:
        payments: non-negative payment per player; ``payments.sum() <= budget``.
        selected: players paid something.
        mechanism: name of the mechanism.
        budget: the round budget.
        info: mechanism-specific numbers.
        ledger: the run totals after this round, if the caller passed a ledger.
    """

    payments: FloatArray
    selected: BoolArray
    mechanism: str
    budget: float
    info: Mapping[str, float] = field(default_factory=dict)
    ledger: PaymentLedger | None = None

    def __post_init__(self) -> None:
        payments = np.asarray(self.payments, dtype=np.float64)
        if np.any(payments < 0) or not np.all(np.isfinite(payments)):
            raise ValueError("payments must be finite and >= 0")
        if payments.sum() > self.budget * (1 + BUDGET_SLACK) + 1e-12:
            raise ValueError(f"payments sum {payments.sum()} exceeds the budget {self.budget}")
        object.__setattr__(self, "payments", payments)
        object.__setattr__(self, "selected", np.asarray(self.selected, dtype=bool))

    @property
    def total(self) -> float:
        """Sum of payments."""
        return float(self.payments.sum())


@dataclass(frozen=True, eq=False)
class Offers:
    """Validated inputs of :meth:`Mechanism._choose`.

    Attributes:
        budget: the round budget.
        bids: declared costs, if given.
        data_sizes: declared training-set sizes, if given.
        state: reputation state, if any.
        rng: tie-breaking generator, if any.
    """

    budget: float
    bids: FloatArray | None
    data_sizes: FloatArray | None
    state: ReputationState | None
    rng: np.random.Generator | None


@dataclass(frozen=True, eq=False)
class Round:
    """Validated inputs of :meth:`Mechanism._pay`.

    Attributes:
        contributions: scores, 0 for non-participants.
        budget: the round budget.
        costs: per-player costs (0 where unknown).
        participants: who took part and is not excluded.
        state: reputation state, if any.
        groups: replica-group label per player (see :func:`market.identities.replica_groups`;
            default: every player its own group).
        selection: this round's :class:`Selection`, if the caller ran one.
        marginals: each participant's marginal contribution to the grand coalition of the
            participants, ``u(N) - u(N - i)`` (0 for non-participants), if the caller gave
            them (see :attr:`Mechanism.uses_marginals`).
        ledger: the run totals before this round, if the caller keeps a :class:`PaymentLedger`.
        stderr: the standard error of each contribution (0 for non-participants), if the
            valuation has them (:class:`market.valuation.RoundValuation`).
        gain: the round's utility gain ``u(N) - u(empty)`` and its standard error, if known.
        reserve: what earlier rounds left unpaid and carried over (a rule that pays for
            value may draw on it beyond ``budget``; the others ignore it).
        example_values: ``(n, E)`` per-example contributions (rows of non-participants 0),
            where the valuation has them.
        effort: each participant's metered effort (the distinct examples it trained on, as
            the platform meters them; 0 for non-participants), where the caller meters it
            (default: 1 per participant).
    """

    contributions: FloatArray
    budget: float
    costs: FloatArray
    participants: BoolArray
    state: ReputationState | None
    groups: IntArray
    selection: Selection | None
    marginals: FloatArray | None = None
    ledger: PaymentLedger | None = None
    stderr: FloatArray | None = None
    gain: tuple[float, float] | None = None
    reserve: float = 0.0
    example_values: FloatArray | None = None
    effort: FloatArray | None = None

    @property
    def positive(self) -> FloatArray:
        """``max(phi, 0)`` for participants, else 0."""
        out: FloatArray = np.where(self.participants, np.clip(self.contributions, 0.0, None), 0.0)
        return out
