"""Type aliases shared across :mod:`market`.

Players are the integers ``0 .. n_players - 1``. A coalition is a ``frozenset`` of players;
inside the estimators a coalition is a *bitmask* ``int`` where bit ``i`` is player ``i``.
A utility table is a float array of length ``2**n_players`` indexed by that bitmask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
"""A float64 array (values, payments, costs, utility tables)."""

BoolArray = npt.NDArray[np.bool_]
"""A boolean mask over players."""

IntArray = npt.NDArray[np.int64]
"""An int64 array (bitmasks, popcounts)."""

Coalition = frozenset[int]
"""A set of players, each in ``0 .. n_players - 1``."""

Utility = Callable[[Coalition], float]
"""A coalition utility ``u(S)``; ``u(frozenset())`` is the value of the empty coalition."""

UtilityLike = Utility | FloatArray
"""Either a utility callable or a precomputed table of length ``2**n`` indexed by bitmask."""


@runtime_checkable
class MaskUtility(Protocol):
    """A utility that also takes coalitions as bitmasks and walks prefixes (duck-typed).

    :class:`market.game.Game` uses these methods when the utility has them (e.g.
    ``fl_core.CoalitionUtility``), so a coalition of thousands of players is never built as a
    frozenset. Each must return what ``u(frozenset)`` returns for the same coalition.
    """

    def __call__(self, coalition: Coalition, /) -> float: ...

    def value_of_mask(self, mask: int, /) -> float:
        """``u(S)`` for the coalition with bitmask ``mask``."""
        ...

    def values_of_masks(self, masks: Sequence[int], /) -> FloatArray:
        """``u`` of each bitmask (the utility may evaluate them as one batch)."""
        ...

    def values_along(self, order: IntArray, stop: int, /) -> FloatArray:
        """``u(order[:k])`` for ``k = 1 .. stop`` (a permutation walk's prefixes)."""
        ...


@runtime_checkable
class ExampleUtility(Protocol):
    """A utility that is a mean over validation examples and returns them one by one.

    ``fl_core.CoalitionUtility`` is one: :class:`market.scoring.ExampleBanzhaf` reads it to give
    each value a standard error over the examples (:mod:`market.valuation`).
    """

    def example_values_of_masks(self, masks: Sequence[int], /) -> FloatArray:
        """``(len(masks), E)``: ``u_e(S)`` of each bitmask for each validation example."""
        ...
