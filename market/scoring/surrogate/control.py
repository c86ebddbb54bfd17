"""The surrogate as a cross-fitted control variate inside antithetic permutation sampling.

Budget: the border levels (sizes 0, 1, n-1, n) first, then antithetic pairs of permutation
walks (Mitchell et al. 2022). The pairs are dealt into ``K`` folds. For fold ``k`` a surrogate
``g_k`` is fitted on the border and on the walks of the *other* folds, completed into a table
``G_k`` (evaluated values where known), and

    phi_k = Shapley(G_k) + mean over fold-k walks of (marginals of u - marginals of G_k).

``G_k`` does not depend on fold ``k``'s walks, so ``phi_k`` is unbiased (the control-variate
form of the regression-adjusted estimators of Witter, Musco et al. 2025, with cross-fitting
as in Chernozhukov et al. 2018); the estimate is the mean of the ``phi_k``. Each ``phi_k``
sums to ``u(N) - u(empty)``, so efficiency is exact. ``g_k`` is fitted without the players
that are null on its training coalitions (:mod:`.axioms`), so a true null player has 0
marginals in both ``u`` and ``G_k`` and scores exactly 0; a player wrongly taken for null is
still valued without bias by its fold-k marginals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from market.game import BudgetExhausted, Game, player_bits
from market.scoring._walk import walk
from market.scoring.exact import shapley_from_table
from market.scoring.surrogate.axioms import null_players, reduce_masks
from market.scoring.surrogate.design import impute
from market.scoring.surrogate.families import fit_additive
from market.scoring.surrogate.stacking import Stacker
from market.types import FloatArray, IntArray

Completed = Callable[[IntArray], FloatArray]
"""A completed table as a function of full bitmasks."""


def prefixes(order: IntArray) -> IntArray:
    """The bitmasks of the non-empty prefixes of ``order``."""
    return np.cumsum(np.int64(1) << order.astype(np.int64)).astype(np.int64)


def antithetic_walks(
    game: Game, rng: np.random.Generator, max_pairs: int
) -> list[list[tuple[IntArray, FloatArray]]]:
    """Antithetic pairs of walks (order, marginals) until the budget is spent."""
    n = game.n_players
    v_empty = game.value(0)
    pairs: list[list[tuple[IntArray, FloatArray]]] = []
    while len(pairs) < max_pairs:
        order = rng.permutation(n).astype(np.int64)
        pair = []
        for o in (order, order[::-1].copy()):
            try:
                marginals, _ = walk(game, o, v_empty)
            except BudgetExhausted:
                break
            pair.append((o, marginals))
        if pair:
            pairs.append(pair)
        if len(pair) < 2:
            break
    return pairs


def complete(
    masks: IntArray, y: FloatArray, n: int, stacker: Stacker, rng: np.random.Generator
) -> tuple[Completed, FloatArray, str]:
    """Fit a surrogate without the apparent null players; return ``G`` and ``Shapley(G)``."""
    nulls = set(null_players(masks, y, n))
    keep = [i for i in range(n) if i not in nulls]
    phi = np.zeros(n)
    if not keep:
        level = float(y[masks == 0][0]) if np.any(masks == 0) else float(y.mean())
        return (lambda q: np.full(q.shape[0], level)), phi, "none"
    m = len(keep)
    # the empty and grand coalitions last, so the reduced game keeps u(N) - u(empty)
    order = np.argsort((masks == 0) | (masks == (1 << n) - 1), kind="stable")
    reduced = reduce_masks(masks[order], keep)
    _, first = np.unique(reduced[::-1], return_index=True)
    pick = len(reduced) - 1 - first
    r_masks, r_y = reduced[pick], y[order][pick]
    label = "none"
    if len(r_masks) == 1 << m:
        table = np.empty(1 << m)
    else:
        x = player_bits(r_masks, m)
        sizes = x.sum(axis=1)
        holdout = np.flatnonzero((sizes >= 2) & (sizes <= m - 2)).astype(np.int64)
        if len(holdout) < stacker.folds:
            holdout = np.arange(len(r_y), dtype=np.int64)
        predict, label, _ = stacker.build(x, r_y, holdout, rng)
        table = impute(predict, m)
        if not np.all(np.isfinite(table)):
            label, table = "additive", impute(fit_additive(x, r_y), m)
    table[r_masks] = r_y
    phi[keep] = shapley_from_table(table)

    def lookup(q: IntArray) -> FloatArray:
        out: FloatArray = table[reduce_masks(q, keep)]
        return out

    return lookup, phi, label


def control_variate_estimate(
    game: Game,
    border: IntArray,
    stacker: Stacker,
    rng: np.random.Generator,
    folds: int = 2,
) -> tuple[FloatArray, FloatArray, dict[str, float | int | str]]:
    """Values, standard errors and diagnostics of the cross-fitted estimator."""
    n = game.n_players
    game.values(border.tolist())
    pairs = antithetic_walks(game, rng, max_pairs=1 << 20)
    fold_of = np.arange(len(pairs)) % folds
    k_used = min(folds, len(pairs))
    estimates, variances = [], []
    label = "none"
    for k in range(max(k_used, 1)):
        train = [border] + [
            prefixes(o) for i, p in enumerate(pairs) if fold_of[i] != k or k_used < 2 for o, _ in p
        ]
        masks = np.unique(np.concatenate(train))
        y = game.values(masks.tolist())  # all cached: free
        g, phi_g, label = complete(masks, y, n, stacker, rng)
        mine = [p for i, p in enumerate(pairs) if fold_of[i] == k] if k_used >= 2 else []
        if not mine:
            estimates.append(phi_g)
            variances.append(np.full(n, np.inf))
            continue
        samples = []
        for pair in mine:
            residual = np.zeros(n)
            for order, marginals in pair:
                values = np.concatenate([g(np.zeros(1, dtype=np.int64)), g(prefixes(order))])
                residual[order] += marginals[order] - np.diff(values)
            samples.append(residual / len(pair))
        stacked = np.vstack(samples)
        estimates.append(phi_g + stacked.mean(axis=0))
        count = len(samples)
        variances.append(stacked.var(axis=0, ddof=1) / count if count > 1 else np.full(n, np.inf))
    values = np.mean(estimates, axis=0)
    stderr = np.sqrt(np.sum(variances, axis=0)) / len(estimates)
    info: dict[str, float | int | str] = {"surrogate": label, "pairs": len(pairs), "folds": k_used}
    return values, stderr, info
