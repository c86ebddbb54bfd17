"""Verified value: pay metered cost and a posted price for value that is significantly positive.

The rule reads one valuation per run, Data Banzhaf values with standard errors
(:mod:`market.valuation`; Wang & Jia 2023), accumulated over the rounds in the
:class:`~market.mechanisms.PaymentLedger` with their variances. Each round:

1. *Evidence.* A participant is *verified* when the lower 95% confidence bound of its
   cumulative value is positive: ``V_i - z * sqrt(Var_i) > 0``. Null, harmful and noisy
   contributions are not verified and get nothing, cover included.
2. *Pot.* The round may pay at most ``budget * max(LCB(gain), 0) / full_budget_gain``
   (and never more than the budget plus the ``reserve`` earlier rounds carried over, when
   the scenario carries unspent budget rather than returning it): the
   platform buys model improvement at the posted price ``budget / full_budget_gain`` per
   unit of validated utility gain, so a round that adds nothing significant pays nothing,
   and entering late, when the model has saturated, earns little.
3. *Debts.* What a verified participant is owed over the run is its metered cost (the
   cover) plus its cumulative value at the posted price, less what it was already paid.
   The pot pays cover debts first, then value debts, each scaled down together when the
   pot is short. A shortfall is paid by later pots (the debts are cumulative), so a
   participant whose value only becomes significant after a few rounds is paid for those
   rounds too.

Strategic properties (each played in ``tests/market``):

* *Replication and splitting.* Prices are per unit of unnormalised Banzhaf value, which is
  replication robust on submodular games (Han et al. 2022): copies add no value to one
  another's coalitions, so the sum of a split's values is at most the whole's. Where the
  pot binds, debts are scaled together, and the other participants' values (diluted by
  extra identities) set the split's share; ``bench/value_pay.py`` measures what that gains.
* *Timing.* The pot follows this round's validated gain, not the calendar.
* *Costs.* The cover is the metered cost (0 for an identity that did not train), never a
  bid; identities that send near-identical updates (a replica group) are covered once.

Limits: the standard errors cover the choice of validation examples, not the luck of
training; rounds are taken as independent when the variances are summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Mechanism, Round, group_costs
from market.mechanisms.ledger import PaymentLedger
from market.types import FloatArray
from market.valuation import CONFIDENCE_Z, lower_bound

DEFAULT_FULL_BUDGET_GAIN = 0.05
"""Validated utility gain (``neg_loss`` or accuracy units) that earns a round's whole budget."""


def _scaled(debts: FloatArray, available: float) -> FloatArray:
    """``debts``, scaled down together when they exceed ``available``."""
    total = float(debts.sum())
    if total <= available or total <= 0.0:
        return debts
    out: FloatArray = debts * (max(available, 0.0) / total)
    return out


@dataclass(frozen=True)
class VerifiedValue(Mechanism):
    """Cover and a posted price for significantly positive cumulative Banzhaf value, from a
    pot that follows the round's validated gain (see the module docstring).

    Attributes:
        full_budget_gain: the lower-bound utility gain at which a round may pay its whole
            budget (the posted price is ``budget / full_budget_gain`` per unit of value).
    """

    name: ClassVar[str] = "verified_value"
    valuation: ClassVar[str | None] = "banzhaf"
    guarantees: ClassVar[frozenset[str]] = frozenset(
        {"budget", "ir", "free_rider", "poisoner", "sybil"}
    )
    uses_valuation: ClassVar[bool] = True
    full_budget_gain: float = DEFAULT_FULL_BUDGET_GAIN

    def __post_init__(self) -> None:
        if not (np.isfinite(self.full_budget_gain) and self.full_budget_gain > 0):
            raise ValueError(
                f"full_budget_gain must be > 0, got {self.full_budget_gain!r}: the utility "
                "gain at which a round pays its whole budget"
            )

    def pot(self, round_: Round) -> float:
        """The most this round may pay: the budget scaled by the gain's lower bound."""
        pool = round_.budget + round_.reserve
        if round_.gain is None:  # no gain measured (a caller without a utility): no cap
            return pool
        gain, stderr = round_.gain
        lower = gain - CONFIDENCE_Z * stderr
        share = max(lower, 0.0) / self.full_budget_gain
        return float(min(pool, round_.budget * share))

    def _pay(self, round_: Round) -> FloatArray:
        n = round_.contributions.size
        ledger = round_.ledger if round_.ledger is not None else PaymentLedger.initial(n)
        assert ledger.variance is not None and ledger.cost is not None  # filled on creation
        errors = np.zeros(n) if round_.stderr is None else round_.stderr
        inside = round_.participants
        value = ledger.value + np.where(inside, round_.contributions, 0.0)
        variance = ledger.variance + np.where(inside, errors**2, 0.0)
        verified = inside & (lower_bound(value, variance) > 0)
        cost = ledger.cost + group_costs(round_)
        price = round_.budget / self.full_budget_gain
        owed_cover = np.where(verified, cost, 0.0)
        owed = owed_cover + np.where(verified, price * np.clip(value, 0.0, None), 0.0)
        pot = self.pot(round_)
        cover = _scaled(np.clip(owed_cover - ledger.paid, 0.0, None), pot)
        rest = pot - float(cover.sum())
        extra = _scaled(np.clip(owed - ledger.paid - cover, 0.0, None), rest)
        out: FloatArray = cover + extra
        return out
