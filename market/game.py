"""The one game interface every estimator calls: a memoising, budget-counting utility.

``Game`` wraps a utility ``u(S)`` over players ``0 .. n-1`` (or a precomputed table of length
``2**n`` indexed by bitmask, bit ``i`` = player ``i``). Each *distinct* coalition is evaluated
at most once; the empty and grand coalitions count like any other. Asking for a new coalition
once ``budget`` distinct evaluations have been made raises :class:`BudgetExhausted`, which the
estimators catch; so no estimator can exceed its budget, and ``Game.evaluations`` is the honest
count of utility calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from market.checks import check_players
from market.types import FloatArray, IntArray, MaskUtility, UtilityLike

MAX_TABLE_PLAYERS = 24
"""Largest ``n_players`` for which a full ``2**n`` table is built."""


class BudgetExhausted(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by :meth:`Game.value` when a new coalition would exceed the budget."""


_BIT_LOOP_PLAYERS = 64
"""Up to this many players :func:`coalition_of` walks the set bits in Python; above it, the
bits are unpacked by numpy (a walk over 2,000 players asks for 2,000 prefixes)."""


def coalition_of(mask: int, n_players: int) -> frozenset[int]:
    """Return the players whose bits are set in ``mask`` (bits ``>= n_players`` ignored)."""
    mask &= (1 << n_players) - 1
    if n_players <= _BIT_LOOP_PLAYERS:
        players = []
        while mask:
            low = mask & -mask
            players.append(low.bit_length() - 1)
            mask ^= low
        return frozenset(players)
    raw = np.frombuffer(mask.to_bytes((n_players + 7) // 8, "little"), dtype=np.uint8)
    return frozenset(np.flatnonzero(np.unpackbits(raw, bitorder="little")).tolist())


def mask_of(coalition: Iterable[int]) -> int:
    """Return the bitmask of ``coalition`` (bit ``i`` set for player ``i``)."""
    mask = 0
    for i in coalition:
        mask |= 1 << int(i)
    return mask


def popcounts(n_players: int) -> IntArray:
    """Return ``|S|`` for every bitmask ``S`` in ``0 .. 2**n - 1``."""
    counts = np.zeros(1, dtype=np.int64)
    for _ in range(n_players):
        counts = np.concatenate([counts, counts + 1])
    return counts


def mask_of_bits(bits: npt.NDArray[np.bool_]) -> int:
    """The coalition mask (a Python int, any number of players) of a 0/1 membership row."""
    packed = np.packbits(np.asarray(bits, dtype=np.uint8), bitorder="little")
    return int.from_bytes(packed.tobytes(), "little")


def player_bits(masks: IntArray, n_players: int) -> FloatArray:
    """Return the ``(len(masks), n_players)`` 0/1 membership matrix of ``masks``.

    Masks are int64, so at most 63 players (wider games pass membership rows instead).
    """
    if n_players > 63:
        raise ValueError(f"player_bits holds at most 63 players in int64 masks, got {n_players}")
    shifts = np.arange(n_players, dtype=np.int64)
    return ((masks[:, None] >> shifts) & 1).astype(np.float64)


def shapley_weights(n_players: int) -> FloatArray:
    """Return ``w[s] = s! (n-s-1)! / n!``, the Shapley weight of a coalition of size ``s``.

    The weight applies to a marginal contribution ``u(S + i) - u(S)`` with ``|S| = s`` and
    ``i`` not in ``S``; entry ``n`` is 0.
    """
    n = n_players
    w = np.zeros(n + 1, dtype=np.float64)
    for s in range(n):
        w[s] = 1.0 / (n * math.comb(n - 1, s))
    return w


def check_n_players(n_players: int) -> None:
    """Raise ``ValueError`` unless ``n_players`` is a positive int."""
    if isinstance(n_players, bool) or not isinstance(n_players, int | np.integer):
        raise ValueError(f"n_players must be an int, got {type(n_players).__name__}")
    check_players(n_players)


def as_table(table: object, n_players: int) -> FloatArray:
    """Validate a utility table of length ``2**n_players`` and return it as float64."""
    arr = np.asarray(table, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != 1 << n_players:
        raise ValueError(
            f"utility table must have shape ({1 << n_players},) for n_players={n_players}, "
            f"got {arr.shape}"
        )
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        mask = int(bad[0])
        players = sorted(coalition_of(mask, n_players))
        raise ValueError(
            f"utility table is {arr[mask]} at coalition {players} (bitmask {mask}); "
            "every entry must be finite"
        )
    return arr


class Game:
    """Memoising, budget-counting view of a coalition utility.

    Args:
        utility: ``u(frozenset) -> float`` or a table of length ``2**n_players``. A utility
            that also implements :class:`market.types.MaskUtility` is asked by bitmask, in
            batches (:meth:`values_many`) and along walks (:meth:`values_along`) instead.
        n_players: number of players ``n``.
        budget: maximum number of distinct coalitions evaluated; ``None`` means ``2**n``.
    """

    def __init__(self, utility: UtilityLike, n_players: int, *, budget: int | None = None):
        check_n_players(n_players)
        self.n_players = int(n_players)
        self.grand = (1 << self.n_players) - 1
        self.budget = (1 << self.n_players) if budget is None else int(budget)
        if self.budget < 0:
            raise ValueError(f"budget must be >= 0, got {budget}")
        self._masked: MaskUtility | None = None
        if callable(utility):
            self._utility = utility
            self.table: FloatArray | None = None
            if isinstance(utility, MaskUtility):
                self._masked = utility
        else:
            self.table = as_table(utility, self.n_players)
            self._utility = self._from_table
        self._cache: dict[int, float] = {}

    def _from_table(self, coalition: frozenset[int]) -> float:
        assert self.table is not None  # only installed when a table was given
        return float(self.table[mask_of(coalition)])

    @property
    def evaluations(self) -> int:
        """Number of distinct coalitions evaluated so far."""
        return len(self._cache)

    @property
    def remaining(self) -> int:
        """Distinct evaluations still allowed."""
        return max(self.budget - len(self._cache), 0)

    def is_cached(self, mask: int) -> bool:
        """Return whether ``mask`` has already been evaluated (and is therefore free)."""
        return mask in self._cache

    def value(self, mask: int) -> float:
        """Return ``u(S)`` for the coalition with bitmask ``mask``, memoised.

        Raises:
            BudgetExhausted: the coalition is new and the budget is spent.
            ValueError: the utility returned NaN or an infinity.
        """
        cached = self._cache.get(mask)
        if cached is not None:
            return cached
        if len(self._cache) >= self.budget:
            raise BudgetExhausted(f"budget of {self.budget} evaluations exhausted")
        if self._masked is not None:
            raw: object = self._masked.value_of_mask(mask)
        else:
            raw = self._utility(coalition_of(mask, self.n_players))
        v = self._checked(raw, mask)
        self._cache[mask] = v
        return v

    def _checked(self, raw: object, mask: int) -> float:
        """``raw`` as a finite float, or a ValueError naming the coalition."""
        try:
            v = float(raw)  # type: ignore[arg-type] # any number-like the utility returns
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"utility returned {raw!r} for coalition "
                f"{sorted(coalition_of(mask, self.n_players))}; it must be a float"
            ) from exc
        if not math.isfinite(v):
            raise ValueError(
                f"utility returned {v} for coalition "
                f"{sorted(coalition_of(mask, self.n_players))}; it must be finite"
            )
        return v

    def _new(self, masks: Iterable[int]) -> list[int]:
        """The distinct masks not yet evaluated; BudgetExhausted if they do not all fit."""
        new = list(dict.fromkeys(m for m in masks if m not in self._cache))
        if len(new) > self.remaining:
            raise BudgetExhausted(f"{len(new)} new evaluations asked, {self.remaining} left")
        return new

    def values_many(self, masks: Sequence[int]) -> FloatArray:
        """``u`` of each bitmask, the new ones evaluated as one batch when the utility can.

        All or nothing: if the new coalitions do not all fit in the remaining budget, none
        is evaluated.

        Raises:
            BudgetExhausted: the new coalitions exceed the remaining budget.
        """
        masks = [int(m) for m in masks]
        new = self._new(masks)
        if new and self._masked is not None:
            raw = self._masked.values_of_masks(new)
            for m, r in zip(new, raw, strict=True):
                self._cache[m] = self._checked(r, m)
        return np.array([self.value(m) for m in masks], dtype=np.float64)

    def prefix_masks(self, order: IntArray, stop: int) -> list[int]:
        """The bitmasks of ``order[:k]`` for ``k = 1 .. stop``."""
        out, mask = [], 0
        for player in order[:stop].tolist():
            mask |= 1 << player
            out.append(mask)
        return out

    def values_along(self, order: IntArray, stop: int | None = None) -> FloatArray:
        """``u(order[:k])`` for ``k = 1 .. stop`` (default ``n``): a permutation walk.

        All or nothing, like :meth:`values_many`; a :class:`~market.types.MaskUtility`
        evaluates the new prefixes as a running sum in one call.

        Raises:
            BudgetExhausted: the new prefixes exceed the remaining budget.
        """
        stop = len(order) if stop is None else stop
        masks = self.prefix_masks(order, stop)
        new = self._new(masks)
        if new and self._masked is not None:
            raw = self._masked.values_along(order, stop)
            for m, r in zip(masks, raw, strict=True):
                if m not in self._cache:
                    self._cache[m] = self._checked(r, m)
        return np.array([self.value(m) for m in masks], dtype=np.float64)

    def values(self, masks: Iterable[int]) -> FloatArray:
        """Return ``u`` for each bitmask in ``masks`` (see :meth:`value`)."""
        return np.array([self.value(int(m)) for m in masks], dtype=np.float64)

    def full_table(self) -> FloatArray:
        """Evaluate every coalition and return the table of length ``2**n``.

        Raises:
            BudgetExhausted: the budget is below ``2**n``.
        """
        size = 1 << self.n_players
        if self.n_players > MAX_TABLE_PLAYERS:
            raise ValueError(
                f"n_players={self.n_players} is too large for a full table "
                f"(at most {MAX_TABLE_PLAYERS}); use a sampling method"
            )
        if self.budget < size:
            raise BudgetExhausted(f"a full table needs {size} evaluations, budget {self.budget}")
        if self.table is not None:
            self._cache.update(zip(range(size), self.table.tolist(), strict=True))
            return self.table
        return self.values(range(size))

    def cached_items(self) -> tuple[IntArray, FloatArray]:
        """Return the evaluated bitmasks and their utilities, in evaluation order."""
        masks = np.fromiter(self._cache.keys(), dtype=np.int64, count=len(self._cache))
        vals = np.fromiter(self._cache.values(), dtype=np.float64, count=len(self._cache))
        return masks, vals
