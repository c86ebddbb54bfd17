"""Per-identity running totals that a mechanism reads across rounds.

A :class:`PaymentLedger` holds, for every identity, the escrow it was offered in the rounds it
delivered, the (signed) value it delivered in them and what it was paid. The caller keeps one
ledger per run and passes it to :meth:`Mechanism.allocate` each round; the allocation returns
the totals after the round (:attr:`Allocation.ledger`). The auction releases its escrow
against these totals rather than against one round's value (see
:mod:`market.mechanisms.auction`). Plain arrays (:meth:`PaymentLedger.to_arrays` /
:meth:`~PaymentLedger.from_arrays`), so a checkpoint stores it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.arrays import array_copies, freeze, stored_fields
from market.checks import check_players
from market.types import BoolArray, FloatArray

FIELDS = ("escrow", "value", "paid", "variance", "cost", "held", "expected", "spread")
OPTIONAL = ("variance", "cost", "held", "expected", "spread")
SIGNED = ("value", "expected")
"""Fields added later: a checkpoint without them starts them at 0."""


@dataclass(frozen=True, eq=False)
class PaymentLedger:
    """Run totals per identity.

    Attributes:
        escrow: escrow of the rounds the identity delivered in, ``>= 0``, shape ``(n,)``.
        value: sum of its scored contributions in those rounds (signed).
        paid: sum of its payments, ``>= 0``.
        variance: sum of the variances of its scored contributions (their standard errors
            squared, where the valuation has them; rounds taken as independent).
        cost: sum of its metered costs in the rounds it delivered, ``>= 0``.
        held: what it was allocated but not yet paid, ``>= 0`` (a rule that pays only
            verified value holds an identity's allocations until its value is verified).
        expected: sum of the value a rule expected of it in the rounds it delivered (signed;
            :class:`~market.mechanisms.PooledValue`: its metered effort times the pool's
            rate), so ``value - expected`` is its cumulative deviation from that expectation.
        spread: sum of the variances of those deviations (``>= 0``).
        examples: ``(n, E)`` sum of its per-example values over the rounds it delivered in,
            where the valuation has them (rounds are scored on the same ``E`` validation
            examples, so the error of a run's value is taken on these sums); ``None``
            until a round brings them.
    """

    escrow: FloatArray
    value: FloatArray
    paid: FloatArray
    variance: FloatArray | None = None
    cost: FloatArray | None = None
    held: FloatArray | None = None
    expected: FloatArray | None = None
    spread: FloatArray | None = None
    examples: FloatArray | None = None

    def __post_init__(self) -> None:
        shape = np.shape(self.escrow)
        arrays = [
            np.zeros(shape)
            if getattr(self, name) is None
            else np.array(getattr(self, name), dtype=np.float64)
            for name in FIELDS
        ]
        if len(shape) != 1 or any(a.shape != shape for a in arrays):
            raise ValueError("ledger arrays must be 1-D arrays of equal shape")
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise ValueError("ledger arrays must be finite")
        if any(np.any(a < 0) for name, a in zip(FIELDS, arrays, strict=True) if name not in SIGNED):
            raise ValueError("ledger escrow, paid, variance, cost, held and spread must be >= 0")
        freeze(self, **dict(zip(FIELDS, arrays, strict=True)))
        if self.examples is not None:
            table = np.array(self.examples, dtype=np.float64)
            if table.ndim != 2 or table.shape[0] != shape[0] or not np.all(np.isfinite(table)):
                raise ValueError("ledger examples must be a finite (n, E) array, one row each")
            freeze(self, examples=table)

    @classmethod
    def initial(cls, n_players: int) -> PaymentLedger:
        """Nothing escrowed, delivered or paid yet."""
        check_players(n_players)
        return cls(**{name: np.zeros(n_players) for name in FIELDS})

    @property
    def n_players(self) -> int:
        """Number of identities covered."""
        return int(self.escrow.size)

    def after(
        self,
        delivered: BoolArray,
        escrow: FloatArray,
        value: FloatArray,
        paid: FloatArray,
        *,
        variance: FloatArray | None = None,
        cost: FloatArray | None = None,
        held: FloatArray | None = None,
        examples: FloatArray | None = None,
        expected: FloatArray | None = None,
        spread: FloatArray | None = None,
    ) -> PaymentLedger:
        """The totals once the ``delivered`` identities add this round's escrow, value and pay
        (and, if given, the value's variance, the metered cost, the expected value and its
        spread); ``held`` replaces the
        held amounts (every identity's, delivered or not) when given; ``examples`` (``(n,
        E)``) adds the delivered identities' per-example values."""
        added = {"escrow": escrow, "value": value, "paid": paid, "variance": variance}
        added |= {"cost": cost, "expected": expected, "spread": spread}
        zero = np.zeros(self.n_players)
        totals = {
            name: getattr(self, name) + np.where(delivered, zero if part is None else part, 0.0)
            for name, part in added.items()
        }  # every field is an array after __post_init__
        return PaymentLedger(
            **totals,
            held=self.held if held is None else held,
            examples=self._examples_after(delivered, examples),
        )

    def _examples_after(
        self, delivered: BoolArray, examples: FloatArray | None
    ) -> FloatArray | None:
        if examples is None:
            return self.examples
        rows = np.where(np.asarray(delivered)[:, None], np.asarray(examples, np.float64), 0.0)
        if self.examples is None:
            return rows
        if self.examples.shape != rows.shape:
            raise ValueError(
                f"examples: every round must be scored on the same {self.examples.shape[1]} "
                f"validation examples, got {rows.shape[1]}"
            )
        out: FloatArray = self.examples + rows
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The ledger as plain arrays (for a checkpoint)."""
        return array_copies(self, (*FIELDS, "examples"))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PaymentLedger:
        """Rebuild a ledger written by :meth:`to_arrays`."""
        required = [name for name in FIELDS if name not in OPTIONAL]
        return cls(**stored_fields("ledger", arrays, required, (*OPTIONAL, "examples")))


__all__ = ["PaymentLedger"]
