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
from statistics import NormalDist
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Mechanism, Round, group_costs, proportional_split
from market.mechanisms.ledger import PaymentLedger
from market.types import BoolArray, FloatArray
from market.valuation import lower_bound

DEFAULT_FULL_BUDGET_GAIN = 0.05
DEFAULT_CONFIDENCE = 0.95
"""Validated utility gain (``neg_loss`` or accuracy units) that earns a round's whole budget."""


def _scaled(amounts: FloatArray, available: float) -> FloatArray:
    """``amounts``, scaled down together when they exceed ``available``."""
    total = float(amounts.sum())
    if total <= available or total <= 0.0:
        return amounts
    out: FloatArray = amounts * (max(available, 0.0) / total)
    return out


@dataclass(frozen=True)
class VerifiedValue(Mechanism):
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
    valuation: ClassVar[str | None] = "banzhaf"
    guarantees: ClassVar[frozenset[str]] = frozenset(
        {"budget", "ir", "free_rider", "poisoner", "sybil"}
    )
    uses_valuation: ClassVar[bool] = True
    full_budget_gain: float = DEFAULT_FULL_BUDGET_GAIN
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        if not (isinstance(self.confidence, float | int) and 0.5 < self.confidence < 1):
            raise ValueError(f"confidence must be in (0.5, 1), got {self.confidence!r}")
        if not (np.isfinite(self.full_budget_gain) and self.full_budget_gain > 0):
            raise ValueError(
                f"full_budget_gain must be > 0, got {self.full_budget_gain!r}: the utility "
                "gain at which a round pays its whole budget"
            )

    @property
    def z(self) -> float:
        """The normal quantile of :attr:`confidence`."""
        return NormalDist().inv_cdf(self.confidence)

    def pot(self, round_: Round) -> float:
        """The most this round may allocate: the budget scaled by the gain's lower bound."""
        pool = round_.budget + round_.reserve
        if round_.gain is None:  # no gain measured (a caller without a utility): no cap
            return pool
        gain, stderr = round_.gain
        share = max(gain - self.z * stderr, 0.0) / self.full_budget_gain
        return float(min(pool, round_.budget * share))

    def verified(self, round_: Round) -> BoolArray:
        """Participants whose cumulative value, this round included, is verified.

        With per-example values, the rounds' values are summed per validation example and
        the error is taken on the sums (the rounds share their examples, so their errors are
        not independent), plus the rounds' sampling errors (``stderr``, independent draws);
        without, the rounds' variances are summed."""
        ledger = _ledger(round_)
        assert ledger.variance is not None  # filled on creation
        errors = np.zeros(round_.contributions.size) if round_.stderr is None else round_.stderr
        inside = round_.participants
        value = ledger.value + np.where(inside, round_.contributions, 0.0)
        variance = ledger.variance + np.where(inside, errors**2, 0.0)
        if round_.example_values is not None:
            sums = round_.example_values
            if ledger.examples is not None:
                sums = ledger.examples + sums
            count = sums.shape[1]
            spread = sums.var(axis=1, ddof=1) / count if count > 1 else np.zeros(len(sums))
            variance = variance + spread  # ``stderr`` carries the sampling error only
        out: BoolArray = inside & (lower_bound(value, variance, self.z) > 0)
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
        ledger = _ledger(round_)
        assert ledger.held is not None  # filled on creation
        due = ledger.held + np.where(round_.participants, self.allocated(round_), 0.0)
        verified = self.verified(round_)
        return np.where(verified, due, 0.0), np.where(verified, 0.0, due)

    def _pay(self, round_: Round) -> FloatArray:
        return self.settle(round_)[0]

    def _held_after(self, round_: Round) -> FloatArray:
        return self.settle(round_)[1]


def _ledger(round_: Round) -> PaymentLedger:
    n = round_.contributions.size
    return round_.ledger if round_.ledger is not None else PaymentLedger.initial(n)
