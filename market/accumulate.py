"""Multi-round accumulation of per-round contributions.

The MR scheme of Song, Tong & Wei 2019 ("Profit allocation for federated learning", IEEE Big
Data) values each round separately and sums the per-round values; an optional exponential
``decay`` in ``(0, 1]`` weights round ``t`` of ``T`` by ``decay**(T - 1 - t)`` so recent rounds
count more. A player absent from a round has value ``NaN`` (or 0) there; absent rounds add 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from market.checks import check_players
from market.types import BoolArray, FloatArray


def _check_decay(decay: float) -> None:
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"decay must be in (0, 1], got {decay}")


def accumulate(per_round: Sequence[FloatArray], decay: float = 1.0) -> FloatArray:
    """Sum per-round contribution vectors, most recent last, with optional decay.

    Args:
        per_round: one array of shape ``(n_players,)`` per round; ``NaN`` marks a player
            absent from that round and counts as 0.
        decay: weight ``decay**age`` for a round ``age`` rounds before the last one.

    Returns:
        The accumulated contribution of each player (0 for a player never present).
    """
    _check_decay(decay)
    if len(per_round) == 0:
        raise ValueError("per_round must contain at least one round")
    rounds = [np.asarray(r, dtype=np.float64) for r in per_round]
    shape = rounds[0].shape
    if len(shape) != 1 or any(r.shape != shape for r in rounds):
        raise ValueError(f"every round must have the same shape (n_players,), got {shape} first")
    if any(np.any(np.isinf(r)) for r in rounds):
        raise ValueError("per-round values must not be infinite (NaN marks absence)")
    stacked = np.nan_to_num(np.vstack(rounds), nan=0.0)
    ages = np.arange(len(rounds) - 1, -1, -1, dtype=np.float64)
    total: FloatArray = (decay**ages) @ stacked
    return total


class ContributionLedger:
    """Running record of per-round contributions for a fixed population of players.

    Args:
        n_players: size of the population.
        decay: as in :func:`accumulate`.
    """

    def __init__(self, n_players: int, decay: float = 1.0) -> None:
        check_players(n_players)
        _check_decay(decay)
        self.n_players = n_players
        self.decay = decay
        self._rounds: list[FloatArray] = []

    def record(self, values: FloatArray, participants: BoolArray | None = None) -> None:
        """Append one round; ``participants`` (bool mask) marks who took part.

        Values of non-participants are stored as ``NaN`` whatever was passed.
        """
        row = np.array(values, dtype=np.float64, copy=True)
        if row.shape != (self.n_players,):
            raise ValueError(f"values must have shape ({self.n_players},), got {row.shape}")
        if participants is not None:
            mask = np.asarray(participants, dtype=bool)
            if mask.shape != row.shape:
                raise ValueError(f"participants must have shape {row.shape}, got {mask.shape}")
            row[~mask] = np.nan
        if np.any(np.isinf(row)):
            raise ValueError("values must not be infinite")
        self._rounds.append(row)

    @property
    def n_rounds(self) -> int:
        """Rounds recorded."""
        return len(self._rounds)

    def history(self) -> FloatArray:
        """The ``(n_rounds, n_players)`` matrix of recorded values (``NaN`` = absent)."""
        if not self._rounds:
            return np.zeros((0, self.n_players))
        return np.vstack(self._rounds)

    def totals(self) -> FloatArray:
        """Accumulated contributions (:func:`accumulate` with the ledger's decay)."""
        if not self._rounds:
            return np.zeros(self.n_players)
        return accumulate(self._rounds, self.decay)

    def participation(self) -> FloatArray:
        """Number of rounds each player took part in."""
        out: FloatArray = np.sum(~np.isnan(self.history()), axis=0).astype(np.float64)
        return out
