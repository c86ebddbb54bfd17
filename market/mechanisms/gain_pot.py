"""What the value-paying rules share: a pot tied to the round's validated gain, and an
identity's run value with its standard error.

:class:`GainPot` is the base of :class:`~market.mechanisms.VerifiedValue` and
:class:`~market.mechanisms.PooledValue`: the platform buys model improvement at the posted
price ``budget / full_budget_gain`` per unit of validated gain, the gain ``u(N) -
u(empty)`` taken at its one-sided lower confidence bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from market.mechanisms.base import Mechanism, Round
from market.mechanisms.ledger import PaymentLedger
from market.types import FloatArray

DEFAULT_FULL_BUDGET_GAIN = 0.05
"""Validated utility gain (``neg_loss`` or accuracy units) that earns a round's whole budget."""
DEFAULT_CONFIDENCE = 0.95
"""One-sided confidence level of the gain's lower bound (and of a value's bounds)."""


@dataclass(frozen=True)
class GainPot(Mechanism):
    """A rule whose round may pay at most ``budget x LCB(gain) / full_budget_gain``.

    Attributes:
        full_budget_gain: the lower-bound utility gain at which a round may pay its whole
            budget (the posted price is ``budget / full_budget_gain`` per unit of gain).
        confidence: the one-sided confidence level of the lower bounds, in (0.5, 1).
    """

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
        """The most this round may allocate: the budget scaled by the gain's lower bound
        (and never more than the budget plus the carried reserve)."""
        pool = round_.budget + round_.reserve
        if round_.gain is None:  # no gain measured (a caller without a utility): no cap
            return pool
        gain, stderr = round_.gain
        share = max(gain - self.z * stderr, 0.0) / self.full_budget_gain
        return float(min(pool, round_.budget * share))


def ledger_of(round_: Round) -> PaymentLedger:
    """The round's ledger (a fresh one when the caller keeps none)."""
    n = round_.contributions.size
    return round_.ledger if round_.ledger is not None else PaymentLedger.initial(n)


def run_value(round_: Round, ledger: PaymentLedger) -> tuple[FloatArray, FloatArray]:
    """Each identity's run value, this round included, and its standard error.

    With per-example values, the rounds' values are summed per validation example and the
    error is taken on the sums (the rounds share their examples, so their errors are not
    independent), plus the rounds' sampling errors (``stderr``, independent draws); without,
    the rounds' variances are summed."""
    inside = round_.participants
    value = ledger.value + np.where(inside, round_.contributions, 0.0)
    assert ledger.variance is not None  # filled on creation
    errors = np.zeros(value.size) if round_.stderr is None else round_.stderr
    variance = ledger.variance + np.where(inside, errors**2, 0.0)
    if round_.example_values is not None:
        sums = round_.example_values
        if ledger.examples is not None:
            sums = ledger.examples + sums
        count = sums.shape[1]
        if count > 1:
            variance = variance + sums.var(axis=1, ddof=1) / count
    out: FloatArray = np.sqrt(variance)
    return value, out
