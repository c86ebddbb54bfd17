"""Permutation walks shared by the permutation, TMC and GTG estimators."""

from __future__ import annotations

import numpy as np

from market.game import BudgetExhausted, Game
from market.types import FloatArray, IntArray


def walk(
    game: Game,
    order: IntArray,
    v_empty: float,
    *,
    v_grand: float | None = None,
    truncation: float = 0.0,
) -> FloatArray:
    """Return the marginal contribution of each player along the permutation ``order``.

    With ``truncation > 0`` the walk stops evaluating once ``|v_grand - v(prefix)|`` falls
    below ``truncation`` and gives every later player a marginal of 0 (Ghorbani & Zou 2019).

    A walk whose new prefixes would not all fit in the remaining budget is not started:
    its partial marginals would be discarded, so evaluating them would waste the budget
    (with truncation such a walk might have ended in time; on rounds recorded from real
    training truncation seldom fires, ``bench/early_stopping.py``).

    Raises:
        market.game.BudgetExhausted: the walk's new prefixes exceed the remaining budget.
    """
    order_list = order.tolist()
    mask = 0
    new = 0
    for position, player in enumerate(order_list):
        mask |= 1 << player
        known = position == len(order_list) - 1 and v_grand is not None
        new += not (known or game.is_cached(mask))
    if new > game.remaining:
        raise BudgetExhausted(f"a walk needs {new} new evaluations, {game.remaining} left")
    marginals = np.zeros(game.n_players, dtype=np.float64)
    mask = 0
    previous = v_empty
    last = len(order) - 1
    for position, player in enumerate(order_list):
        if truncation > 0.0 and v_grand is not None and abs(v_grand - previous) < truncation:
            break
        mask |= 1 << player
        current = v_grand if (position == last and v_grand is not None) else game.value(mask)
        marginals[player] = current - previous
        previous = current
    return marginals


def relative_change(new: FloatArray, old: FloatArray) -> float:
    """Return ``||new - old||_1 / ||new||_1`` (``inf`` when ``new`` is all zeros)."""
    scale = float(np.abs(new).sum())
    if scale == 0.0:
        return 0.0 if float(np.abs(old).sum()) == 0.0 else float("inf")
    return float(np.abs(new - old).sum()) / scale
