"""The surrogate's residual sampled where the surrogate is unsure (``sampler="focused"``).

Two phases. **Explore**: after the border (sizes 0, 1, n-1, n), a share ``explore`` of the
budget is drawn uniformly per size (:func:`.strata.draw`), and the surrogate ``H`` is fitted
on everything evaluated (``H`` is set to ``u`` there). Its family is the candidate
(:meth:`.stacking.Stacker.choose`) of the smallest out-of-fold ``sum |r(S)| |c(S)|`` (each
explored coalition weighted by its size level's coalitions per sample): the estimator's
standard deviation at its best proposal, below. ``K`` refits, each without one fold of the
explored coalitions, measure how unsure ``H`` is of every coalition not yet evaluated:
``spread(S)``, the mean squared gap between the refits and ``H`` (query by committee, Seung
et al. 1992).

**Focus**: ``Shapley(u) = Shapley(H) + T``, ``T = sum over unevaluated S of r(S) c(S)``,
with ``r = u - H`` and ``c_i(S)`` the Shapley weight of ``S`` in player ``i``'s value
(``+w(|S| - 1)`` with ``i``, ``-w(|S|)`` without). The rest of the budget is drawn from the
unevaluated coalitions without replacement, one by one, with probabilities
``q(S) ~ (1 - mix) |c(S)| sqrt(spread(S)) / sum + mix |c(S)| / sum`` (the first term is the
variance-optimal size ``|r(S)| |c(S)|`` with ``|r|`` guessed by the committee; the second
keeps every coalition drawable), and ``T`` is estimated by Des Raj's ordered estimator
(Des Raj 1956, "Some estimators in sampling with varying probabilities without replacement",
JASA 51): after ``j - 1`` draws with probability mass ``P`` used,
``t_j = sum_{k<j} r(S_k) c(S_k) + r(S_j) c(S_j) (1 - P) / q(S_j)``, each unbiased for ``T``
given the draws before it; the estimate is their mean, with the unbiased variance estimate
``sum_j (t_j - mean)^2 / (m (m - 1))``. ``H`` is fixed before any focused draw, so the
estimate is unbiased for every player; ``sum_i c_i(S) = 0`` for every coalition but the
empty and grand ones, so every ``t_j`` sums to 0 and efficiency is exact.

Apparent nulls are checked between the phases (:func:`.checks.check_nulls`, targeted by the
surrogate: the partner ``S ^ {i}`` of an evaluated ``S`` where ``|H(S ^ {i}) - u(S)|`` is
largest); the checks join the training coalitions, and ``H`` is refitted on them before any
focused draw, so the estimate stays unbiased.

Axioms: players null on every evaluated pair ``(S, S + i)`` score exactly 0 (a true null
always is: the border holds ``(empty, {i})``), and the gap this leaves is shared equally by
the others (of mean 0). As with the strata, a player the evaluations cannot tell from a null
one is zeroed: a bias, which the checks make rarer. Where the surrogate is exact wherever the
committee agrees (a threshold game fitted by the ``threshold`` family), the focus spends the
budget on the coalitions near the threshold, which is where a threshold game's Shapley value
is decided. Measured on the tuning voting games (n = 10, 8 x 4 runs, median relative L2
error): 0.116 at 15% of the coalitions, against 0.42 for the permutation walks.
"""

from __future__ import annotations

import math

import numpy as np

from market.game import Game, player_bits, popcounts, shapley_weights
from market.scoring.exact import shapley_from_table
from market.scoring.surrogate.axioms import null_players
from market.scoring.surrogate.checks import check_nulls, reserve
from market.scoring.surrogate.design import impute
from market.scoring.surrogate.stacking import Blend, Stacker, blend_label
from market.scoring.surrogate.strata import clip_to_range, draw, share_gap
from market.types import FloatArray, IntArray


def coefficients(masks: IntArray, n: int) -> FloatArray:
    """``c(S)`` per row: ``w(|S| - 1)`` for the players in ``S``, ``-w(|S|)`` for the rest
    (``Shapley_i(f) = sum_S f(S) c_i(S)``)."""
    w = shapley_weights(n)
    x = player_bits(masks, n)
    s = x.sum(axis=1).astype(np.int64)
    inside = w[np.maximum(s - 1, 0)]
    outside = -w[np.minimum(s, n - 1)]
    out: FloatArray = np.where(x > 0, inside[:, None], outside[:, None])
    return out


def coefficient_norms(n: int) -> FloatArray:
    """``|c(S)|`` for every coalition size ``0 .. n`` (it depends on the size only)."""
    w = shapley_weights(n)
    s = np.arange(n + 1)
    inside = np.where(s > 0, w[np.maximum(s - 1, 0)], 0.0)
    outside = np.where(s < n, w[np.minimum(s, n - 1)], 0.0)
    out: FloatArray = np.sqrt(s * inside**2 + (n - s) * outside**2)
    return out


def ordered_draws(probabilities: FloatArray, count: int, rng: np.random.Generator) -> IntArray:
    """``count`` indices drawn one by one without replacement, each in proportion to
    ``probabilities`` among those not yet drawn (Gumbel top-k: the order is the draw order)."""
    keys = np.log(probabilities) + rng.gumbel(size=probabilities.shape[0])
    out: IntArray = np.argsort(-keys, kind="stable")[:count].astype(np.int64)
    return out


def des_raj(terms: FloatArray, probabilities: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Des Raj's estimate of the total and its variance estimate from ordered draws
    (``terms`` ``(m, n)``: each draw's contribution; ``probabilities``: each draw's initial
    probability, the proposal summing to 1 over the population)."""
    m = terms.shape[0]
    used = np.concatenate([[0.0], np.cumsum(probabilities)[:-1]])
    known = np.vstack([np.zeros((1, terms.shape[1])), np.cumsum(terms, axis=0)[:-1]])
    t = known + terms * ((1.0 - used) / probabilities)[:, None]
    total = t.mean(axis=0)
    variance = (
        ((t - total) ** 2).sum(axis=0) / (m * (m - 1)) if m > 1 else np.full(terms.shape[1], np.inf)
    )
    return total, variance


def selection_weights(train: IntArray, n: int) -> FloatArray:
    """Per training coalition, ``|c(S)|`` times the number of coalitions of its size per
    sampled one: the out-of-fold ``sum weight |u - prediction|`` then estimates
    ``sum_S |r(S)| |c(S)|``, the focused estimator's standard deviation at its best proposal."""
    sizes = popcounts(n)[train]
    level = np.array([math.comb(n, s) for s in range(n + 1)], dtype=float)
    count = np.bincount(sizes, minlength=n + 1).astype(float)
    out: FloatArray = coefficient_norms(n)[sizes] * level[sizes] / count[sizes]
    return out


def committee_spread(
    blend: Blend,
    train: IntArray,
    y_train: FloatArray,
    explored: IntArray,
    queries: IntArray,
    h: FloatArray,
    n: int,
    stacker: Stacker,
    rng: np.random.Generator,
    folds: int,
) -> FloatArray:
    """Mean squared gap between ``H`` and ``folds`` refits of ``blend``, each without one
    fold of the ``explored`` coalitions, at ``queries``."""
    fold_of = rng.permutation(len(explored)) % folds
    x_queries = player_bits(queries, n)
    spread = np.zeros(len(queries))
    for k in range(folds):
        kept = np.setdiff1d(train, explored[fold_of == k])
        y_kept = y_train[np.searchsorted(train, kept)]
        refit = stacker.fit_blend(blend, player_bits(kept, n), y_kept)(x_queries)
        spread += (clip_to_range(refit, y_kept) - h[queries]) ** 2
    out: FloatArray = spread / folds
    return out


def focused_estimate(
    game: Game,
    border: IntArray,
    stacker: Stacker,
    rng: np.random.Generator,
    folds: int = 8,
    explore: float = 0.5,
    mix: float = 0.2,
    check_per_null: int = 0,
    check_share: float = 0.0,
) -> tuple[FloatArray, FloatArray, dict[str, float | int | str]]:
    """Values, standard errors and diagnostics of the explore-then-focus estimator."""
    n = game.n_players
    game.values(border.tolist())
    explored = draw(n, int(explore * game.remaining), rng)
    game.values(explored.tolist())
    train = np.unique(np.concatenate([border, explored]))
    y_train = np.asarray(game.values(train.tolist()), dtype=float)
    x_train = player_bits(train, n)
    sizes_train = popcounts(n)[train]
    holdout = np.flatnonzero((sizes_train >= 2) & (sizes_train <= n - 2)).astype(np.int64)
    blend, _, _, _ = stacker.choose(
        x_train, y_train, holdout, rng, row_weights=selection_weights(train, n)
    )
    kept = reserve(
        len(null_players(train, y_train, n)), game.remaining, check_per_null, check_share
    )
    if kept > 0:
        guess = stacker.fit_blend(blend, x_train, y_train)
        masks, y_masks = check_nulls(game, train, y_train, kept, predict=guess)
        train, first = np.unique(masks, return_index=True)
        y_train = y_masks[first]
        x_train = player_bits(train, n)
    everything = np.arange(1 << n, dtype=np.int64)
    h = clip_to_range(impute(stacker.fit_blend(blend, x_train, y_train), n), y_train)
    h[train] = y_train
    values = shapley_from_table(h)
    unseen = np.setdiff1d(everything, train)
    count = min(game.remaining, len(unseen))
    folds = min(folds, len(explored))
    drawn = np.zeros(0, dtype=np.int64)
    # nothing drawn: the unseen coalitions' residual is unknown
    variance = np.full(n, np.inf if len(unseen) else 0.0)
    if count > 0:
        sizes = popcounts(n)[unseen]
        norm = coefficient_norms(n)[sizes]
        proposal = norm / norm.sum()
        if folds >= 2 and mix < 1.0:
            spread = committee_spread(
                blend, train, y_train, explored, unseen, h, n, stacker, rng, folds
            )
            focus = norm * np.sqrt(spread)
            total = float(focus.sum())
            if np.isfinite(total) and total > 0:
                proposal = (1.0 - mix) * focus / total + mix * proposal
        picks = ordered_draws(proposal, count, rng)
        drawn = unseen[picks]
        y_drawn = np.asarray(game.values(drawn.tolist()), dtype=float)
        terms = (y_drawn - h[drawn])[:, None] * coefficients(drawn, n)
        if count == len(unseen):  # every coalition evaluated: the residual is known
            correction, variance = terms.sum(axis=0), np.zeros(n)
        else:
            correction, variance = des_raj(terms, proposal[picks])
        values = values + correction
    masks = np.concatenate([train, drawn])
    y_all = np.asarray(game.values(masks.tolist()), dtype=float)
    gap = game.value(game.grand) - game.value(0)
    nulls = null_players(masks, y_all, n)
    if len(nulls) == n and gap != 0.0:
        nulls = []  # every player null would give u(N) = u(empty): the decision is wrong
    keep = np.ones(n, dtype=bool)
    keep[nulls] = False
    values[nulls] = 0.0
    variance[nulls] = 0.0
    values = share_gap(values, keep.astype(float), gap - float(values.sum()))
    info: dict[str, float | int | str] = {
        "surrogate": blend_label(blend),
        "explored": len(explored),
        "focused": count,
        "folds": folds,
        "null_players": len(nulls),
        "checks": kept,
    }
    return values, np.sqrt(variance), info
