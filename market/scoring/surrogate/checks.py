"""Checking apparent null players with targeted evaluations.

A player ``i`` is taken for null when every evaluated pair ``(S, S + i)`` agrees
(:func:`.axioms.null_players`). At low budgets stratified samples rarely contain such pairs,
so a rarely-pivotal player (the weight-1 player of a voting game) is taken for null and
zeroed. :func:`check_nulls` spends a reserved budget evaluating the partner ``S ^ {i}`` of an
already-evaluated ``S``, choosing the pair where ``i`` is likeliest pivotal: the largest
``|g(S ^ {i}) - u(S)|``, with ``g`` a ridge-regularised linear fit of ``u`` on the evaluated
coalitions (on a threshold game: the heaviest losing coalitions without ``i``, the lightest
winning ones with it). The apparent nulls are checked in turn, one evaluation each, until
one shows a non-zero marginal (it is no longer null) or the reserve is spent.

Axioms: a true null player has a zero marginal on every pair, so it passes every check and
still scores exactly 0; the checks only ever remove players from the null set.
"""

from __future__ import annotations

import numpy as np

from market.game import BudgetExhausted, Game, player_bits
from market.scoring.surrogate.axioms import null_players, tolerance
from market.scoring.surrogate.families import Predictor
from market.scoring.surrogate.ties import first_argmax
from market.types import FloatArray, IntArray


def reserve(n_nulls: int, remaining: int, per_null: int, share: float) -> int:
    """Evaluations kept back for the checks: ``per_null`` per apparent null, at most
    ``share`` of ``remaining`` (0 when nothing looks null)."""
    return min(per_null * n_nulls, int(share * remaining))


def linear_fit(masks: IntArray, y: FloatArray, n: int, ridge: float = 1e-2) -> FloatArray:
    """Intercept and per-player coefficients of a ridge least-squares fit of ``y``."""
    x = np.hstack([np.ones((len(masks), 1)), player_bits(masks, n)])
    penalty = ridge * np.eye(n + 1)
    penalty[0, 0] = 0.0
    coef: FloatArray = np.linalg.solve(x.T @ x + penalty, x.T @ y).astype(float)
    return coef


def pivot_scores(masks: IntArray, y: FloatArray, coef: FloatArray, i: int, n: int) -> FloatArray:
    """``|g(S ^ {i}) - u(S)|`` per evaluated ``S``: how far the linear fit ``g`` expects
    ``i``'s marginal at ``S`` to move ``u`` (large: ``i`` likely pivotal there)."""
    sign = np.where((masks >> i) & 1 == 1, -1.0, 1.0)
    predicted = coef[0] + player_bits(masks, n) @ coef[1:] + sign * coef[1 + i]
    out: FloatArray = np.abs(predicted - y)
    return out


def check_nulls(
    game: Game, masks: IntArray, y: FloatArray, budget: int, predict: Predictor | None = None
) -> tuple[IntArray, FloatArray]:
    """Evaluate up to ``budget`` partners of evaluated coalitions for the apparent nulls of
    ``(masks, y)``; return every evaluated coalition and value (the checks appended). With
    ``predict`` (a surrogate of ``u`` on memberships) the pair where ``i`` is likeliest
    pivotal is the largest ``|predict(S ^ {i}) - u(S)|``, else the linear fit's."""
    n = game.n_players
    pending = null_players(masks, y, n)
    if not pending or budget <= 0 or len(masks) == 0:
        return masks, y
    coef = linear_fit(masks, y, n)
    atol = tolerance(y)
    scale = float(np.max(np.abs(y)))
    known = {int(m): float(v) for m, v in zip(masks.tolist(), y.tolist(), strict=True)}
    order = np.argsort(masks, kind="stable")
    base, values = masks[order], y[order]
    spent = 0
    while pending and spent < budget:
        for i in list(pending):
            if spent >= budget:
                break
            partner = base ^ (np.int64(1) << i)
            score = (
                pivot_scores(base, values, coef, i, n)
                if predict is None
                else np.abs(predict(player_bits(partner, n)) - values)
            )
            fresh = np.array([int(p) not in known for p in partner.tolist()])
            if not fresh.any():
                pending.remove(i)
                continue
            # ties (two partners of the same weight) go to the first by mask, not rounding
            pick = int(np.flatnonzero(fresh)[first_argmax(score[fresh], scale)])
            try:
                value = game.value(int(partner[pick]))
            except BudgetExhausted:
                return _merged(masks, y, known)
            spent += 1
            known[int(partner[pick])] = value
            if abs(value - values[pick]) > atol:
                pending.remove(i)
    return _merged(masks, y, known)


def _merged(masks: IntArray, y: FloatArray, known: dict[int, float]) -> tuple[IntArray, FloatArray]:
    extra = [m for m in known if m not in set(masks.tolist())]
    out_masks = np.concatenate([masks, np.array(extra, dtype=np.int64)])
    out_y = np.concatenate([y, np.array([known[m] for m in extra])])
    return out_masks, out_y
