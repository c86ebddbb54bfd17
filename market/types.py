"""Type aliases shared across :mod:`market`.

Players are the integers ``0 .. n_players - 1``. A coalition is a ``frozenset`` of players;
inside the estimators a coalition is a *bitmask* ``int`` where bit ``i`` is player ``i``.
A utility table is a float array of length ``2**n_players`` indexed by that bitmask.
"""

from __future__ import annotations

from collections.abc import Callable

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
