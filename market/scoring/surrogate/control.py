"""The surrogate as a cross-fitted control variate inside antithetic permutation sampling.

Budget: the border levels (sizes 0, 1, n-1, n) first, then antithetic pairs of permutation
walks (Mitchell et al. 2022), dealt into ``K`` folds. For fold ``k`` a surrogate ``g_k`` is
fitted on the border and on the walks of the *other* folds and completed into a table
``G_k`` (evaluated values where known); the additive least-squares fit is completed the same
way into ``A_k``. With
``H_k = beta_k * G_k + (1 - beta_k) * A_k``,

    phi_k = Shapley(H_k) + mean over fold-k walks of (marginals of u - marginals of H_k),

with ``beta_k`` in [0, 1] the control-variate coefficient (Glasserman 2004, ch. 4) estimated
from the *other* folds' out-of-fold predictions (0 when the surrogate explains no more than
the additive fit, e.g. a poor fit of a voting game's steps). ``H_k`` equals ``u`` on every
training coalition whatever ``beta_k``, so the border positions of a walk (sizes 1 and
n-1) carry no variance. ``H_k`` does not depend on fold ``k``'s walks, so ``phi_k`` is
unbiased (the control-variate form of the regression-adjusted estimators of Witter, Musco
et al. 2025, with cross-fitting as in Chernozhukov et al. 2018); the estimate is the mean
of the ``phi_k``. ``H_k(N) - H_k(empty) = u(N) - u(empty)`` and every walk's residual
marginals sum to 0, so efficiency is exact. ``g_k`` and ``A_k`` are fitted without the
players that are null on the training coalitions (:mod:`.axioms`), so a true null player
has 0 marginals in ``u`` and ``H_k`` and scores exactly 0; a player wrongly taken for null is
still valued without bias by its fold-k marginals. ``baseline=False`` is the
earlier estimator (``H_k = beta_k * G_k``). Measured at 15% of the coalitions, n = 10: on
the tuning voting games (seeds 3000+, 4 x 2 runs) the baseline cut the median error from
0.331 to 0.284, on FL-like fl-exp games at 5% from 0.176 to 0.129; on the bench's voting
games (seeds 2000+, 8 x 3 runs) it did not help (0.425 -> 0.436, within the noise).
Tried and dropped: blocks of an order, its reverse and both rotated by ``n / 2`` (a
stratification by position; lower plain-walk variance, but fewer independent blocks to
cross-fit over: 0.389 at 15%).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

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
        orders = [order, order[::-1].copy()]
        pair = []
        for o in orders:
            try:
                marginals, _ = walk(game, o, v_empty)
            except BudgetExhausted:
                break
            pair.append((o, marginals))
        if pair:
            pairs.append(pair)
        if len(pair) < len(orders):
            break
    return pairs


class Surrogate(NamedTuple):
    """A fold's completed surrogate table ``G``, its Shapley value and its quality check."""

    table: Completed
    """``G`` at full bitmasks: evaluated values where known, the surrogate elsewhere."""
    shapley: FloatArray
    label: str
    out_of_fold: Completed
    """``G`` with every scored training coalition replaced by its out-of-fold prediction."""
    baseline: Completed
    """``A``: evaluated values where known, the additive least-squares fit elsewhere."""
    baseline_shapley: FloatArray
    baseline_out_of_fold: Completed
    """``A`` with the same coalitions replaced by the additive fit's out-of-fold prediction."""


def complete(
    masks: IntArray, y: FloatArray, n: int, stacker: Stacker, rng: np.random.Generator
) -> Surrogate:
    """Fit a surrogate without the apparent null players; return ``G``, ``Shapley(G)`` and
    the additive baseline ``A`` (both equal to ``u`` on every training coalition)."""
    nulls = set(null_players(masks, y, n))
    keep = [i for i in range(n) if i not in nulls]
    phi = np.zeros(n)
    if not keep:
        level = float(y[masks == 0][0]) if np.any(masks == 0) else float(y.mean())

        def flat(q: IntArray) -> FloatArray:
            return np.full(q.shape[0], level)

        return Surrogate(flat, phi, "none", flat, flat, phi, flat)
    m = len(keep)
    # the empty and grand coalitions last, so the reduced game keeps u(N) - u(empty)
    order = np.argsort((masks == 0) | (masks == (1 << n) - 1), kind="stable")
    reduced = reduce_masks(masks[order], keep)
    _, first = np.unique(reduced[::-1], return_index=True)
    pick = len(reduced) - 1 - first
    r_masks, r_y = reduced[pick], y[order][pick]
    label = "none"
    rows, oof, base_oof = np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    if len(r_masks) == 1 << m:
        table, base = np.empty(1 << m), np.empty(1 << m)
    else:
        x = player_bits(r_masks, m)
        sizes = x.sum(axis=1)
        holdout = np.flatnonzero((sizes >= 2) & (sizes <= m - 2)).astype(np.int64)
        if len(holdout) < stacker.folds:
            holdout = np.arange(len(r_y), dtype=np.int64)
        predict, label, _, rows, oof = stacker.build_oof(x, r_y, holdout, rng)
        table = impute(predict, m)
        base = impute(fit_additive(x, r_y), m)
        if not np.all(np.isfinite(table)):
            label, table = "additive", base.copy()
            rows, oof = np.zeros(0, dtype=np.int64), np.zeros(0)
        if len(rows):
            additive = ("additive", False, None)
            base_oof = stacker.out_of_fold(additive, x, r_y, np.array_split(rows, stacker.folds))
            if not np.all(np.isfinite(base_oof)):
                base_oof = r_y[rows]
    table[r_masks] = r_y
    base[r_masks] = r_y
    phi[keep] = shapley_from_table(table)
    phi_base = np.zeros(n)
    phi_base[keep] = shapley_from_table(base)
    checked, base_checked = table.copy(), base.copy()
    checked[r_masks[rows]] = oof
    base_checked[r_masks[rows]] = base_oof

    def lookup_in(values: FloatArray) -> Completed:
        def lookup(q: IntArray) -> FloatArray:
            out: FloatArray = values[reduce_masks(q, keep)]
            return out

        return lookup

    return Surrogate(
        lookup_in(table),
        phi,
        label,
        lookup_in(checked),
        lookup_in(base),
        phi_base,
        lookup_in(base_checked),
    )


def walk_marginals(g: Completed, order: IntArray) -> FloatArray:
    """The marginals of ``g`` along ``order``, indexed by player."""
    values = np.concatenate([g(np.zeros(1, dtype=np.int64)), g(prefixes(order))])
    out = np.zeros(order.shape[0])
    out[order] = np.diff(values)
    return out


def residual(
    marginals: FloatArray, order: IntArray, fit: Surrogate, beta: float, baseline: bool
) -> FloatArray:
    """One walk's marginals of ``u - H``, ``H = beta * G + (1 - beta) * A`` (``A = 0``
    without the baseline): the sample whose fold mean corrects ``Shapley(H)``."""
    out: FloatArray = marginals - beta * walk_marginals(fit.table, order)
    if baseline:
        out = out - (1.0 - beta) * walk_marginals(fit.baseline, order)
    return out


def coefficient(
    pairs: list[list[tuple[IntArray, FloatArray]]], g: Completed, a: Completed | None = None
) -> float:
    """The control-variate coefficient ``beta`` in ``[0, 1]`` that minimises the variance of
    the pair means of ``marginals(u - a) - beta * marginals(g - a)`` (pooled over players;
    Glasserman 2004, section 4.1; ``a = 0`` when None); 0 when there are fewer than 2 pairs
    or ``g - a``'s marginals do not vary.
    """
    if len(pairs) < 2:
        return 0.0

    def means(f: Completed | None) -> FloatArray:
        if f is None:
            return np.zeros((len(pairs), pairs[0][0][1].shape[0]))
        return np.vstack([np.mean([walk_marginals(f, o) for o, _ in p], axis=0) for p in pairs])

    a_means = means(a)
    u_means = np.vstack([np.mean([m for _, m in p], axis=0) for p in pairs]) - a_means
    g_means = means(g) - a_means
    du, dg = u_means - u_means.mean(axis=0), g_means - g_means.mean(axis=0)
    spread = float(np.sum(dg * dg))
    if spread <= 1e-300:
        return 0.0
    return float(np.clip(np.sum(du * dg) / spread, 0.0, 1.0))


def control_variate_estimate(
    game: Game,
    border: IntArray,
    stacker: Stacker,
    rng: np.random.Generator,
    folds: int = 2,
    adaptive: bool = True,
    baseline: bool = True,
) -> tuple[FloatArray, FloatArray, dict[str, float | int | str]]:
    """Values, standard errors and diagnostics of the cross-fitted estimator."""
    n = game.n_players
    game.values(border.tolist())
    pairs = antithetic_walks(game, rng, max_pairs=1 << 20)
    fold_of = np.arange(len(pairs)) % folds
    k_used = min(folds, len(pairs))
    estimates, variances = [], []
    label = "none"
    betas = []
    for k in range(max(k_used, 1)):
        others = [p for i, p in enumerate(pairs) if fold_of[i] != k or k_used < 2]
        train = [border] + [prefixes(o) for p in others for o, _ in p]
        masks = np.unique(np.concatenate(train))
        y = game.values(masks.tolist())  # all cached: free
        fit = complete(masks, y, n, stacker, rng)
        label = fit.label
        mine = [p for i, p in enumerate(pairs) if fold_of[i] == k] if k_used >= 2 else []
        if not mine:
            estimates.append(fit.shapley)
            variances.append(np.full(n, np.inf))
            continue
        # beta from the other folds' walks and out-of-fold predictions only: it does not
        # depend on fold k's walks, so fold k's estimate stays unbiased for any beta
        a_oof = fit.baseline_out_of_fold if baseline else None
        beta = coefficient(others, fit.out_of_fold, a_oof) if adaptive else 1.0
        betas.append(beta)
        samples = [
            np.mean([residual(m, o, fit, beta, baseline) for o, m in pair], axis=0) for pair in mine
        ]
        stacked = np.vstack(samples)
        control = beta * fit.shapley
        if baseline:
            control = control + (1.0 - beta) * fit.baseline_shapley
        estimates.append(control + stacked.mean(axis=0))
        count = len(samples)
        variances.append(stacked.var(axis=0, ddof=1) / count if count > 1 else np.full(n, np.inf))
    values = np.mean(estimates, axis=0)
    stderr = np.sqrt(np.sum(variances, axis=0)) / len(estimates)
    walks = sum(len(p) for p in pairs)
    info: dict[str, float | int | str] = {
        "surrogate": label,
        "pairs": len(pairs),
        "walks": walks,
        "folds": k_used,
    }
    if betas:
        info["beta"] = float(np.mean(betas))
    return values, stderr, info
