"""Verified value: allocate a round's validated gain, pay an identity once its value is verified.

The rule reads one valuation per run, Data Banzhaf values with standard errors over the
validation examples (:mod:`market.valuation`; Wang & Jia 2023), accumulated over the rounds
in the :class:`~market.mechanisms.PaymentLedger` with their variances. Each round:

1. *Pot.* The round may pay at most ``budget * max(LCB(gain), 0) / full_budget_gain`` (and
   never more than its budget plus the ``reserve`` earlier rounds carried over, where the
   scenario carries unspent budget): the platform buys model improvement at the posted
   price ``budget / full_budget_gain`` per unit of validated utility gain, so a round that
   adds nothing significant pays nothing, and entering late, once the model has
   saturated, earns little.
2. *Allocation.* The pot first covers every participant's metered cost (replica groups
   once; scaled down together when the pot is short), then the rest is split in
   proportion to the round's positive Banzhaf values.
3. *Verification.* An identity is *verified* once the lower 95% confidence bound of its
   cumulative value is positive, ``V_i - z * sqrt(Var_i) > 0`` (``confidence``, 95%
   by default). A verified identity is paid
   its allocation, plus everything held for it; an unverified one's allocation is held
   (:attr:`~market.mechanisms.PaymentLedger.held`) and paid in the round its evidence
   suffices. What is still held when the run ends is never paid: null, harmful and
   unverifiable contributions (a cover included) earn nothing.

Holding instead of refusing is what keeps the rule from paying luck: an honest owner's value
in one round is rarely significant on its own (z of about 1-2 on 128 validation examples),
but its cumulative value usually is after a few rounds, and then it gets the rounds it was
held for.

Strategic properties (played in ``tests/market`` and by the gym, ``bench/attack_matrix.py``):

* *Copies, replays, misreported sizes*: handled upstream (metered aggregation weights).
* *Pieces that only help together* (a split by class): each piece's value has a large
  spread over the examples (it helps one class and hurts the other), so it is rarely
  verified.
* *Timing*: the pot follows this round's validated gain, not the calendar.
* *Costs*: the cover is the metered cost (0 for an identity that did not train), never a bid.

Limits: the standard errors cover the choice of validation examples, not the luck of
training; rounds are taken as independent when the variances are summed. Splitting one's
data over identities still dilutes the others' Banzhaf values (the surplus is a share);
``bench/attack_matrix.py`` measures what that gains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Round, group_costs, proportional_split
from market.mechanisms.gain_pot import (
    DEFAULT_CONFIDENCE,
    DEFAULT_FULL_BUDGET_GAIN,
    GainPot,
    ledger_of,
    run_value,
)
from market.scoring.base import Estimator
from market.scoring.example_banzhaf import ExampleBanzhaf
from market.types import BoolArray, FloatArray
from market.valuation import lower_bound

__all__ = ["DEFAULT_CONFIDENCE", "DEFAULT_FULL_BUDGET_GAIN", "VerifiedValue"]


def _scaled(amounts: FloatArray, available: float) -> FloatArray:
    """``amounts``, scaled down together when they exceed ``available``."""
    total = float(amounts.sum())
    if total <= available or total <= 0.0:
        return amounts
    out: FloatArray = amounts * (max(available, 0.0) / total)
    return out


@dataclass(frozen=True)
class VerifiedValue(GainPot):
    """A pot that follows the round's validated gain, allocated as cover plus Banzhaf
    shares, paid once an identity's cumulative value is verified (see the module docstring).

    Attributes:
        full_budget_gain: the lower-bound utility gain at which a round may pay its whole
            budget (the posted price is ``budget / full_budget_gain`` per unit of gain).
        confidence: the one-sided confidence level of the lower bounds (the gain's and the
            verification's), in (0.5, 1). Lower verifies honest owners sooner and lets more
            noise through: ``bench/value_pay.py`` measures both.
    """

    name: ClassVar[str] = "verified_value"
    valuation: ClassVar[Estimator | None] = ExampleBanzhaf()
    guarantees: ClassVar[frozenset[str]] = frozenset(
        {"budget", "ir", "free_rider", "poisoner", "sybil"}
    )

    def verified(self, round_: Round) -> BoolArray:
        """Participants whose run value, this round included, has a positive lower bound
        (its error as :func:`market.mechanisms.gain_pot.run_value` takes it)."""
        value, stderr = run_value(round_, ledger_of(round_))
        inside = round_.participants
        out: BoolArray = inside & (lower_bound(value, stderr**2, self.z) > 0)
        return out

    def allocated(self, round_: Round) -> FloatArray:
        """This round's allocation: covers first, then shares of the positive values."""
        pot = self.pot(round_)
        cover = _scaled(group_costs(round_), pot)
        rest = max(pot - float(cover.sum()), 0.0)
        return cover + proportional_split(round_.positive, rest)

    def settle(self, round_: Round) -> tuple[FloatArray, FloatArray]:
        """This round's payments and what stays held afterwards: a verified identity is paid
        everything held for it plus its allocation; an unverified one's allocation is held."""
        ledger = ledger_of(round_)
        assert ledger.held is not None  # filled on creation
        due = ledger.held + np.where(round_.participants, self.allocated(round_), 0.0)
        verified = self.verified(round_)
        return np.where(verified, due, 0.0), np.where(verified, 0.0, due)

    def _pay(self, round_: Round) -> FloatArray:
        return self.settle(round_)[0]

    def _held_after(self, round_: Round) -> FloatArray:
        return self.settle(round_)[1]
