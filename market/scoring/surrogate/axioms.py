"""Null players and symmetric players, read off the evaluated coalitions.

A surrogate fills in coalitions that were not evaluated, and a fitted surrogate need not
treat a null player as null or two symmetric players alike (a smooth family on a weighted
voting game paid a null player 0.78 of the top value). These checks make the surrogate
estimator keep both axioms *exactly*, whatever the surrogate:

* a player ``i`` whose every evaluated pair ``(S, S + i)`` has ``u(S + i) = u(S)`` (and at
  least one such pair exists) is treated as null: it scores exactly 0 and the other players
  are valued on the game without it (the values of a true null player's game are unchanged
  by removing it, Shapley 1953);
* players ``i, j`` whose every evaluated pair ``(S + i, S + j)`` agrees (at least one) are
  treated as symmetric, and each class of such players gets its mean value (the Shapley
  value of the class-symmetrised game; efficiency is kept).

A true null (symmetric) player passes its check on any set of evaluations, so it always gets
0 (an equal share). A player the evaluations cannot tell from a null (symmetric) one is
treated as one: an estimation error, never an axiom violation. Equality is up to
``1e-12 * max|u|`` (float summation order).
"""

from __future__ import annotations

import numpy as np

from market.types import FloatArray, IntArray


def _partner_values(
    masks: IntArray, values: FloatArray, wanted: IntArray
) -> tuple[IntArray, FloatArray]:
    """Return the positions in ``wanted`` that were evaluated and their values."""
    order = np.argsort(masks)
    sorted_masks, sorted_values = masks[order], values[order]
    at = np.clip(np.searchsorted(sorted_masks, wanted), 0, len(sorted_masks) - 1)
    found = np.flatnonzero(sorted_masks[at] == wanted)
    return found, sorted_values[at[found]]


def tolerance(values: FloatArray) -> float:
    """The absolute tolerance of value equality: ``1e-12 * max(max|u|, 1)``."""
    return 1e-12 * max(float(np.max(np.abs(values))), 1.0) if values.size else 0.0


def null_players(masks: IntArray, values: FloatArray, n_players: int) -> list[int]:
    """Players with at least one evaluated pair ``(S, S + i)`` and a zero marginal on all."""
    atol = tolerance(values)
    out = []
    for i in range(n_players):
        bit = np.int64(1) << i
        without = (masks & bit) == 0
        found, partner = _partner_values(masks, values, masks[without] | bit)
        if found.size and np.all(np.abs(partner - values[without][found]) <= atol):
            out.append(i)
    return out


def symmetric_classes(masks: IntArray, values: FloatArray, players: list[int]) -> list[list[int]]:
    """Classes (of size >= 2) of ``players`` that the evaluations cannot tell apart."""
    atol = tolerance(values)
    parent = {p: p for p in players}

    def root(p: int) -> int:
        while parent[p] != p:
            p = parent[p]
        return p

    for a, i in enumerate(players):
        for j in players[a + 1 :]:
            bi, bj = np.int64(1) << i, np.int64(1) << j
            side = ((masks & bi) != 0) & ((masks & bj) == 0)
            found, partner = _partner_values(masks, values, masks[side] ^ bi ^ bj)
            if found.size and np.all(np.abs(partner - values[side][found]) <= atol):
                parent[root(j)] = root(i)
    classes: dict[int, list[int]] = {}
    for p in players:
        classes.setdefault(root(p), []).append(p)
    return [c for c in classes.values() if len(c) > 1]


def reduce_masks(masks: IntArray, keep: list[int]) -> IntArray:
    """Re-index ``masks`` onto the players in ``keep`` (bit ``k`` = player ``keep[k]``)."""
    out = np.zeros_like(masks)
    for k, player in enumerate(keep):
        out |= ((masks >> player) & 1) << k
    return out


def average_classes(phi: FloatArray, classes: list[list[int]]) -> FloatArray:
    """Give every member of each class the class mean (sums are unchanged)."""
    out = phi.copy()
    for members in classes:
        out[members] = phi[members].mean()
    return out
