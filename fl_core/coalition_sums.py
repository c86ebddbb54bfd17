"""FedAvg of many coalitions of one round's updates, as contribution scoring asks for them.

A coalition is a boolean membership row over the round's players. Its FedAvg update is
``sum_i w_i delta_i / sum_i w_i`` over its members (McMahan et al. 2017, "Communication-
Efficient Learning of Deep Networks from Decentralized Data"), accumulated in float64 and
returned as float32, as :func:`fl_core.aggregation.fedavg` does. Three access patterns:

* one coalition (:meth:`CoalitionMeans.mean`): up to :data:`STACKED_FEDAVG_MIN` members it
  *is* ``fedavg`` (bit for bit); larger ones are a ``weights @ deltas`` product, or, when the
  previous coalition differs from it in at most one member in eight, the previous sum plus
  the rows that changed (a leave-one-out sweep, or an estimator adding players one by one);
* a batch of coalitions (:meth:`CoalitionMeans.means`): one matrix product per batch (the
  Banzhaf sampler's random halves);
* the prefixes of one player order (:meth:`CoalitionMeans.prefix_means`): a running sum,
  one row added per prefix (a permutation walk), never a set difference.

All three are exact up to floating-point summation order (the golden tolerance is 1e-4
relative; the paths agree to about 1e-12).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fl_core.aggregation import fedavg

STACKED_FEDAVG_MIN = 32
"""Coalitions with more members than this are averaged as one ``weights @ deltas`` product
(float64, equal to :func:`~fl_core.aggregation.fedavg` up to summation order) instead of a
Python loop over members; smaller ones use ``fedavg`` itself, bit for bit."""

INCREMENTAL_SHARE = 8
"""A large coalition reuses the previous sum when at most ``members // 8`` rows changed."""


class CoalitionMeans:
    """FedAvg means of coalitions of ``deltas`` (one row per player) with ``weights``.

    Args:
        deltas: one float32 update per player.
        weights: FedAvg weights (sample counts), one per player.
    """

    def __init__(self, deltas: Sequence[np.ndarray], weights: np.ndarray) -> None:
        self.deltas = deltas
        self.weights = np.asarray(weights, dtype=np.float64)
        self._stacked: np.ndarray | None = None  # (n, d) float64, built on first large call
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # (members row, float64 sum)

    @property
    def stacked(self) -> np.ndarray:
        """The ``(n, d)`` float64 stack of the updates (built once)."""
        if self._stacked is None:
            self._stacked = np.stack(self.deltas).astype(np.float64)
        return self._stacked

    def _divide(self, total: np.ndarray, row: np.ndarray) -> np.ndarray:
        w = self.weights[row]
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights: need non-negative weights with a positive sum")
        return np.asarray((total / w.sum()).astype(np.float32))

    def _small(self, row: np.ndarray) -> np.ndarray:
        members = np.flatnonzero(row)
        return fedavg([self.deltas[int(i)] for i in members], self.weights[members].tolist())

    def mean(self, row: np.ndarray) -> np.ndarray:
        """FedAvg of the members of ``row`` (a non-empty boolean membership row)."""
        size = int(np.count_nonzero(row))
        if size <= STACKED_FEDAVG_MIN:
            return self._small(row)
        stacked = self.stacked
        last = self._last
        if last is not None:
            changed = np.flatnonzero(row != last[0])
            if len(changed) <= size // INCREMENTAL_SHARE:
                total = last[1].copy()
                for i in changed:  # rows that joined are added, rows that left subtracted
                    step = self.weights[i] * stacked[i]
                    if row[i]:
                        total += step
                    else:
                        total -= step
                self._last = (row.copy(), total)
                return self._divide(total, row)
        total = np.where(row, self.weights, 0.0) @ stacked
        self._last = (row.copy(), total)
        return self._divide(total, row)

    def means(self, rows: np.ndarray) -> np.ndarray:
        """FedAvg of each non-empty row of the ``(k, n)`` boolean matrix ``rows``: ``(k, d)``."""
        out = np.empty((len(rows), self.deltas[0].shape[0]), dtype=np.float32)
        sizes = rows.sum(axis=1)
        large = np.flatnonzero(sizes > STACKED_FEDAVG_MIN)
        for k in np.flatnonzero(sizes <= STACKED_FEDAVG_MIN):
            out[k] = self._small(rows[k])
        if len(large):
            totals = np.where(rows[large], self.weights, 0.0) @ self.stacked
            for j, k in enumerate(large):
                out[k] = self._divide(totals[j], rows[k])
        return out

    def prefix_means(self, order: np.ndarray, start: int, stop: int) -> np.ndarray:
        """FedAvg of the prefixes ``order[:k]`` for ``k`` in ``start + 1 .. stop``: a running
        sum over the order (one row added per prefix), ``(stop - start, d)``."""
        row = np.zeros(len(self.weights), dtype=bool)
        row[order[:start]] = True
        out = np.empty((stop - start, self.deltas[0].shape[0]), dtype=np.float32)
        total: np.ndarray | None = None
        for j, k in enumerate(range(start + 1, stop + 1)):
            player = int(order[k - 1])
            row[player] = True
            if k <= STACKED_FEDAVG_MIN:
                out[j] = self._small(row)
                continue
            if total is None:  # the first large prefix: one product, then a running sum
                total = np.where(row, self.weights, 0.0) @ self.stacked
            else:
                total += self.weights[player] * self.stacked[player]
            out[j] = self._divide(total, row)
        if total is not None:
            self._last = (row.copy(), total.copy())
        return out
