"""What every reward mechanism shares: the selection and allocation phases.

A round has two phases. Before training, :meth:`Mechanism.select` picks who trains from the
candidates (default: every candidate the reputation state has not excluded; the auction
runs its reverse auction here and escrows the winners' payments). After the updates are
scored, :meth:`Mechanism.allocate` pays within the budget. Subclasses implement only
:meth:`Mechanism._pay` on a validated :class:`Round` (and may implement :meth:`Mechanism._choose`
on validated :class:`Offers`).

The round's data types live in :mod:`market.mechanisms.rounds`, the payment helpers the rules
share in :mod:`market.mechanisms.payments`; both are re-exported here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from market.checks import per_player
from market.mechanisms.ledger import PaymentLedger
from market.mechanisms.payments import (
    cover_then_share,
    grand_marginals,
    group_costs,
    proportional_split,
)
from market.mechanisms.rounds import BUDGET_SLACK, Allocation, Offers, Round, Selection
from market.reputation import ReputationState
from market.scoring.base import Estimator
from market.types import BoolArray, FloatArray, IntArray

__all__ = [
    "BUDGET_SLACK",
    "PROPERTIES",
    "Allocation",
    "Mechanism",
    "Offers",
    "Round",
    "Selection",
    "cover_then_share",
    "grand_marginals",
    "group_costs",
    "proportional_split",
]

PROPERTIES = frozenset({"budget", "ir", "free_rider", "poisoner", "sybil"})
"""Guarantees a mechanism may claim (checked by ``tests/market/test_market_properties.py``):
budget balance, individual rationality of positive contributors when the budget covers their
costs, nothing for null contributions, nothing for harmful ones, bounded Sybil gain."""


class Mechanism(ABC):
    """A reward rule: a selection before training and payments within a budget after.

    Class attributes:
        name: registry name.
        valuation: the :class:`~market.scoring.Estimator` whose values the rule pays on and
            its guarantees assume (``None``: any Shapley-style score, the scenario's
            scoring). One whose ``needs`` has ``"examples"`` (:class:`market.scoring.
            ExampleBanzhaf`) also gives standard errors, per-example values and the round's
            gain to :meth:`allocate`.
        guarantees: the :data:`PROPERTIES` the rule guarantees (tested).
        uses_marginals: the rule also pays on each participant's marginal contribution to
            the grand coalition (``allocate(..., marginals=...)``); callers that can
            evaluate the coalition utility pass them (:func:`grand_marginals`).
    """

    name: ClassVar[str]
    valuation: ClassVar[Estimator | None] = None
    guarantees: ClassVar[frozenset[str]] = frozenset({"budget"})
    uses_marginals: ClassVar[bool] = False

    def select(
        self,
        candidates: BoolArray,
        *,
        budget: float,
        bids: FloatArray | None = None,
        data_sizes: FloatArray | None = None,
        state: ReputationState | None = None,
        rng: np.random.Generator | None = None,
    ) -> Selection:
        """Choose who trains: every candidate the reputation ``state`` has not excluded.

        Args:
            candidates: identities that want to train, bool ``(n,)``.
            budget: the round budget, ``>= 0``.
            bids: declared costs (the auction's bids), ``>= 0``.
            data_sizes: declared training-set sizes, ``>= 0``.
            state: the reputation state (its ``excluded`` identities are refused).
            rng: breaks ties where a rule has them (the auction).
        """
        mask, bid_arr, sizes = _inputs(candidates, budget, bids, data_sizes, state)
        excluded = mask & state.excluded_mask if state is not None else np.zeros_like(mask)
        eligible = Selection(
            selected=mask & ~excluded,
            excluded=excluded,
            escrow=np.zeros(mask.size),
            mechanism=self.name,
        )
        return self._choose(eligible, Offers(budget, bid_arr, sizes, state, rng))

    def _choose(self, eligible: Selection, offers: Offers) -> Selection:
        """Who of the ``eligible`` (non-excluded candidates) trains; default: all of them."""
        return eligible

    def allocate(
        self,
        contributions: FloatArray,
        *,
        budget: float,
        costs: FloatArray | None = None,
        participants: BoolArray | None = None,
        state: ReputationState | None = None,
        groups: IntArray | None = None,
        selection: Selection | None = None,
        marginals: FloatArray | None = None,
        ledger: PaymentLedger | None = None,
        stderr: FloatArray | None = None,
        gain: tuple[float, float] | None = None,
        reserve: float = 0.0,
        example_values: FloatArray | None = None,
        effort: FloatArray | None = None,
    ) -> Allocation:
        """Pay participants for one round.

        Args:
            contributions: per-player scores, shape ``(n,)`` (in the :attr:`valuation`;
                ``NaN`` allowed for non-participants).
            budget: the most that may be paid in total, ``>= 0``.
            costs: per-player costs incurred this round (metered, not declared).
            participants: whose update was scored (default: everyone); others get 0.
            state: reputation state; its excluded identities get 0.
            groups: replica-group labels (identities sending near-identical updates share
                a label and are covered once); default: one group per identity.
            selection: the result of :meth:`select` this round (required by the auction).
            marginals: ``u(N) - u(N - i)`` per player over the participants' grand
                coalition ``N`` (used where :attr:`uses_marginals`; ``NaN`` allowed for
                non-participants).
            ledger: the run totals before this round (returned updated in the allocation).
            stderr: standard error of each contribution (``>= 0`` for participants), where
                the valuation has them.
            gain: ``(gain, stderr)`` of the round's utility gain ``u(N) - u(empty)``.
            reserve: unpaid budget carried over from earlier rounds (``>= 0``); payments
                stay within ``budget + reserve`` (plus money held back for an identity in
                earlier rounds and released now).
            example_values: ``(n, E)`` per-example contributions whose row means are
                ``contributions`` (where the valuation has them).
            effort: metered effort per player (``>= 0``; the distinct examples trained on,
                never a declared size), where the caller meters it.
        """
        c = np.asarray(contributions, dtype=np.float64)
        if c.ndim != 1 or c.size < 1:
            raise ValueError(f"contributions must be a non-empty 1-D array, got shape {c.shape}")
        n = c.size
        default = np.ones(n, dtype=bool) if participants is None else participants
        mask, cost_arr, _ = _inputs(default, budget, costs, None, state, name="costs")
        if mask.shape != (n,):
            raise ValueError(f"participants must be a bool array of shape ({n},)")
        if not np.all(np.isfinite(c[mask])):
            raise ValueError("contributions of participants must be finite")
        labels = np.arange(n) if groups is None else np.asarray(groups)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"groups must be an integer array of shape ({n},)")
        if selection is not None and selection.selected.shape != (n,):
            raise ValueError(f"selection must cover {n} players")
        if state is not None:
            mask = mask & ~state.excluded_mask
        margins = None
        if marginals is not None:
            margins = per_player(marginals, mask, "marginals", nonnegative=False)
            margins = np.where(mask, margins, 0.0)
        if ledger is not None and ledger.n_players != n:
            raise ValueError(f"ledger must cover {n} players, got {ledger.n_players}")
        errors = _participants_nonnegative("stderr", stderr, mask)
        if gain is not None and not (
            len(gain) == 2 and np.isfinite(gain[0]) and np.isfinite(gain[1]) and gain[1] >= 0
        ):
            raise ValueError("gain must be (finite gain, finite stderr >= 0)")
        if not (np.isfinite(reserve) and reserve >= 0):
            raise ValueError(f"reserve must be finite and >= 0, got {reserve}")
        per_example = None
        if example_values is not None:
            per_example = np.asarray(example_values, dtype=np.float64)
            if per_example.ndim != 2 or per_example.shape[0] != n:
                raise ValueError(f"example_values must have shape ({n}, E)")
            if not np.all(np.isfinite(per_example[mask])):
                raise ValueError("example_values of participants must be finite")
            per_example = np.where(mask[:, None], per_example, 0.0)
        metered = _participants_nonnegative("effort", effort, mask)
        round_ = Round(
            contributions=np.where(mask, c, 0.0),
            budget=float(budget),
            costs=np.zeros(n) if cost_arr is None else np.where(mask, cost_arr, 0.0),
            participants=mask,
            state=state,
            groups=labels.astype(np.int64),
            selection=selection,
            marginals=margins,
            ledger=ledger,
            stderr=errors,
            gain=None if gain is None else (float(gain[0]), float(gain[1])),
            reserve=float(reserve),
            example_values=per_example,
            effort=metered,
        )
        payments = np.where(mask, self._pay(round_), 0.0)
        # money held back in earlier rounds (ledger.held) was allocated from their budgets:
        # releasing it adds to this round's limit
        held = 0.0
        if ledger is not None and ledger.held is not None:
            held = float(ledger.held[mask].sum())
        total, limit = float(payments.sum()), float(budget) + float(reserve) + held
        if total > limit:  # floating-point guard; the rules themselves never exceed
            payments *= limit / total
        if ledger is not None:  # the run totals after this round
            escrow = np.zeros(n) if selection is None else selection.escrow
            ledger = ledger.after(
                mask,
                escrow,
                round_.contributions,
                payments,
                variance=None if errors is None else errors**2,
                cost=group_costs(round_),
                held=self._held_after(round_),
                examples=per_example,
                **self._ledger_increments(round_),
            )
        return Allocation(
            payments=payments,
            selected=payments > 0,
            mechanism=self.name,
            budget=limit,
            ledger=ledger,
        )

    def run_round(
        self,
        contributions: FloatArray,
        *,
        budget: float,
        costs: FloatArray | None = None,
        data_sizes: FloatArray | None = None,
        groups: IntArray | None = None,
        rng: np.random.Generator | None = None,
        marginals: FloatArray | None = None,
        effort: FloatArray | None = None,
    ) -> Allocation:
        """Select everyone who bids ``costs`` and declares ``data_sizes`` (default 1 each),
        then pay the selected for delivering ``contributions`` (and ``marginals`` and
        ``effort``, see :meth:`allocate`; for tests and metrics)."""
        n = np.asarray(contributions).size
        sizes = np.ones(n) if data_sizes is None else data_sizes
        everyone = np.ones(n, dtype=bool)
        selection = self.select(everyone, budget=budget, bids=costs, data_sizes=sizes, rng=rng)
        return self.allocate(
            contributions,
            budget=budget,
            costs=costs,
            participants=selection.selected,
            groups=groups,
            selection=selection,
            marginals=marginals,
            effort=effort,
        )

    @abstractmethod
    def _pay(self, round_: Round) -> FloatArray:
        """Payments for validated inputs (non-participants' entries are ignored)."""

    def _held_after(self, round_: Round) -> FloatArray | None:
        """What every identity has been allocated but not paid after this round (``None``:
        the rule holds nothing back)."""
        return None

    def _ledger_increments(self, round_: Round) -> dict[str, FloatArray]:
        """This round's additions to the ledger's rule-specific totals (``expected``,
        ``spread``: see :class:`PaymentLedger`); default none."""
        return {}


def _participants_nonnegative(
    name: str, values: FloatArray | None, mask: BoolArray
) -> FloatArray | None:
    """``values`` validated as one finite ``>= 0`` number per player (checked for the
    participants in ``mask``, 0 elsewhere); ``None`` stays ``None``."""
    if values is None:
        return None
    out: FloatArray = np.where(mask, per_player(values, mask, name), 0.0)
    return out


def _inputs(
    mask_like: object,
    budget: float,
    first: FloatArray | None,
    second: FloatArray | None,
    state: ReputationState | None,
    *,
    name: str = "bids",
) -> tuple[BoolArray, FloatArray | None, FloatArray | None]:
    """Validate a participant mask, a budget, two optional per-player arrays and a state."""
    mask = np.asarray(mask_like)
    if mask.ndim != 1 or mask.dtype != np.bool_:
        raise ValueError("participants/candidates must be a 1-D bool array")
    if not np.isfinite(budget) or budget < 0:
        raise ValueError(f"budget must be finite and >= 0, got {budget}")
    first_arr = None if first is None else per_player(first, mask, name)
    second_arr = None if second is None else per_player(second, mask, "data_sizes")
    if state is not None and state.n_players != mask.size:
        raise ValueError(f"state must cover {mask.size} players, got {state.n_players}")
    return mask, first_arr, second_arr
