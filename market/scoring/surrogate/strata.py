"""The surrogate's residual estimated by stratified sampling (``sampler="strata"``).

Stratified SVARM (Kolpaczki et al. 2024, "Approximating the Shapley value without marginal
contributions", AAAI) writes ``phi_i = (1/n) sum_s (mu+_{i,s} - mu-_{i,s-1})`` with
``mu+_{i,s}`` the mean of ``u`` over the coalitions of size ``s`` containing ``i`` and
``mu-_{i,s}`` over those of size ``s`` without ``i``; every sampled coalition updates one
stratum of *every* player. Here the sizes 0, 1, n-1, n are known exactly and the rest of the
budget is drawn without replacement per size, ``k_s ~ 1 / sqrt(s (n - s))`` coalitions of
size ``s`` (the allocation minimising the summed stratum variances when they are equal).
The samples are dealt into ``K`` folds; fold ``k``'s control ``H_k = beta_k G_k +
(1 - beta_k) A_k`` (:mod:`.control`) is fitted on the border and the other folds, and
``phi(u) = phi(H_k) + phi(r_k)``, ``r_k = u - H_k``. A stratum's mean of ``r_k`` is its
known part (the training coalitions, where ``r_k`` is evaluated; 0 unless two apparent
nulls share a reduced coalition) plus a Horvitz-Thompson estimate of the rest: given the
other folds' ``C - c`` coalitions of size ``s``, fold ``k``'s ``c`` are uniform without
replacement on the level's other ``L - C + c``, each drawn with probability
``c / (L - C + c)`` (``L = C(n, s)``), so the estimate is unbiased whatever the stratum's
count of samples (none included). The folds' estimates of a stratum are averaged with
weights ``c / C``: ``mu(u) = sum_k c/C (mu(H_k) + known_k + HT_k)``, every term unbiased.

Axioms: players null on *every* evaluated coalition score exactly 0 (a true null always is).
Unlike the walks, which value every player by its own marginals, this is a bias for a
non-null player the evaluations cannot tell from a null one (a linear estimator exactly 0 for
every null player needs evaluated pairs ``(S, S + i)``, which stratified samples rarely are):
measured on the test's voting game (weights 4 3 3 2 1 4 0, quota 10, 40 of 128 coalitions,
600 seeds) the weight-1 player is taken for null in nearly every run, its mean is 0.046 for
0.067, and the mean's error is 0.11 of ``|phi|`` (the RMSE is 0.99); given the true nulls the
estimator is unbiased there (|z| < 1.6). On the tuning voting games at 15% (n = 10) the
strata's median error is 0.329 with this decision and 0.264 with an oracle one. The
gap ``u(N) - u(empty) - sum(phi)`` is shared equally by the other players, so efficiency is
exact; the gap is a fixed linear combination of the estimates, of mean 0 when they are
unbiased, so the equal share adds no bias (shares by estimated variance: no better on the
tuning games, 0.326 vs 0.329 at 15%). Tried and dropped: the mean of a stratum's samples
(a ratio estimator) instead of Horvitz-Thompson, biased by the strata no sample falls in
(56% of the test game's runs had one) and no more accurate (0.333 at 15%).

Null checks (``check_per_null > 0``; off by default, see the estimator): before sampling,
``check_per_null`` evaluations per player that looks null on the border (at most
``check_share`` of the budget) are kept back; after sampling they check the apparent nulls
(:func:`.checks.check_nulls`) and serve the null decision only (they are chosen from the
samples, so using them in the strata would bias them; the sample size is fixed before any
value is seen, so the estimate stays unbiased given the null decision). A true null passes
every check. Measured on the test's voting game (budget 40, 600 seeds, up to 5 checks): the
mean's error falls from 0.111 to 0.060 of ``|phi|`` (RMSE 0.99 to 0.77; the weight-1 player's
mean 0.055 for 0.067); on the tuning voting games at 15% (n = 10, 8 x 2 runs, 6 checks) the
false nulls per run fall from 3.0 to about 0.6 and the median error from 0.372 to 0.340.
Each fold's control is clipped to its training values' range (:func:`clip_to_range`): one
fold's surrogate reached -1442 on a 0/1 game and the estimate's error 35.
"""

from __future__ import annotations

import math

import numpy as np

from market.game import Game, player_bits, popcounts
from market.scoring.surrogate.axioms import null_players
from market.scoring.surrogate.checks import check_nulls, reserve
from market.scoring.surrogate.control import complete
from market.scoring.surrogate.stacking import Stacker
from market.types import FloatArray, IntArray


def quota(n: int, draws: int, rng: np.random.Generator) -> dict[int, int]:
    """Coalitions per size ``2 .. n-2``, ``~ 1 / sqrt(s (n - s))``, capped by ``C(n, s)``."""
    sizes = list(range(2, n - 1))
    left = min(draws, sum(math.comb(n, s) for s in sizes))
    out = dict.fromkeys(sizes, 0)
    while left > 0:
        open_ = [s for s in sizes if out[s] < math.comb(n, s)]
        mass = np.array([1.0 / math.sqrt(s * (n - s)) for s in open_])
        share = mass / mass.sum() * left
        base = np.floor(share).astype(int)
        extra = left - int(base.sum())
        if extra > 0:
            base[rng.choice(len(open_), size=extra, replace=False)] += 1
        for s, k in zip(open_, base, strict=True):
            take = min(int(k), math.comb(n, s) - out[s])
            out[s] += take
            left -= take
    return out


def draw(n: int, draws: int, rng: np.random.Generator) -> IntArray:
    """``draws`` coalitions of sizes ``2 .. n-2``, uniform without replacement per size."""
    sizes_of = popcounts(n)
    chosen = [np.zeros(0, dtype=np.int64)]
    for s, k in quota(n, draws, rng).items():
        if k:
            level = np.flatnonzero(sizes_of == s).astype(np.int64)
            chosen.append(rng.choice(level, size=k, replace=False))
    return np.concatenate(chosen)


def stratum_means(table: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    """``(mu+, mu-)``, each ``(n, n + 1)``: the mean of ``table`` over the coalitions of size
    ``s`` with (without) player ``i`` (0 where the stratum is empty)."""
    sizes = popcounts(n)
    x = player_bits(np.arange(1 << n, dtype=np.int64), n)
    pos, neg = np.zeros((n, n + 1)), np.zeros((n, n + 1))
    for s in range(n + 1):
        at = sizes == s
        xs, vs = x[at], table[at]
        with_i = xs.sum(axis=0)
        pos[:, s] = np.divide(vs @ xs, with_i, out=np.zeros(n), where=with_i > 0)
        without = len(vs) - with_i
        neg[:, s] = np.divide(vs.sum() - vs @ xs, without, out=np.zeros(n), where=without > 0)
    return pos, neg


def mix_coefficient(y: FloatArray, g_oof: FloatArray, a_oof: FloatArray) -> float:
    """``beta`` in [0, 1] minimising ``sum (u - A - beta (G - A))**2`` over out-of-fold
    predictions (0 when ``G - A`` is 0 there)."""
    dg, du = g_oof - a_oof, y - a_oof
    spread = float(dg @ dg)
    return float(np.clip(du @ dg / spread, 0.0, 1.0)) if spread > 1e-300 else 0.0


def clip_to_range(h: FloatArray, y_train: FloatArray, margin: float = 0.1) -> FloatArray:
    """``h`` clipped to the training values' range widened by ``margin`` of its spread: a
    fixed function of the training data (so the estimate stays unbiased) that equals ``u``
    on the training coalitions and keeps a surrogate's wild extrapolation (measured: -1442
    on a voting game of values 0/1) out of the unsampled coalitions."""
    low, high = float(y_train.min()), float(y_train.max())
    pad = margin * (high - low)
    out: FloatArray = np.clip(h, low - pad, high + pad)
    return out


def residual_terms(members: FloatArray, weighted: FloatArray) -> FloatArray:
    """Each sampled coalition's residual term in each player's stratum (rows: coalitions,
    columns: players; ``members`` 1 where the coalition is in the player's stratum)."""
    out: FloatArray = members * weighted[:, None]
    return out


def share_gap(values: FloatArray, weights: FloatArray, gap: float) -> FloatArray:
    """Efficiency: ``gap`` shared in proportion to ``weights`` (nothing where they are 0)."""
    out = values.copy()
    if weights.sum() > 0:
        out += gap * weights / weights.sum()
    return out


def strata_estimate(
    game: Game,
    border: IntArray,
    stacker: Stacker,
    rng: np.random.Generator,
    folds: int = 8,
    adaptive: bool = True,
    baseline: bool = True,
    check_per_null: int = 0,
    check_share: float = 0.0,
) -> tuple[FloatArray, FloatArray, dict[str, float | int | str]]:
    """Values, standard errors and diagnostics of the cross-fitted stratified estimator
    (``check_per_null`` evaluations per apparent null after the border, at most
    ``check_share`` of the budget left, are kept back for :func:`.checks.check_nulls`)."""
    n = game.n_players
    y_border = game.values(border.tolist())
    kept = reserve(
        len(null_players(border, y_border, n)), game.remaining, check_per_null, check_share
    )
    sampled = draw(n, game.remaining - kept, rng)
    y_sampled = game.values(sampled.tolist())
    fold_of = rng.permutation(len(sampled)) % folds
    before = game.evaluations
    checked, y_checked = check_nulls(
        game, np.concatenate([border, sampled]), np.concatenate([y_border, y_sampled]), kept
    )
    checks = game.evaluations - before
    nulls = null_players(checked, y_checked, n)
    full = np.arange(1 << n, dtype=np.int64)
    sizes = popcounts(n)
    s_sampled = sizes[sampled]
    drawn = np.bincount(s_sampled, minlength=n + 1).astype(float)
    level = np.array([math.comb(n, s) for s in range(n + 1)], dtype=float)
    stratum = {
        "+": np.array([math.comb(n - 1, s - 1) if s else 1 for s in range(n + 1)], dtype=float),
        "-": np.array([math.comb(n - 1, s) if s < n else 1 for s in range(n + 1)], dtype=float),
    }
    # per (player, size): the estimate of the stratum mean, and the residual terms' sums and
    # sums of squares over the level's samples (for the standard error)
    mean = {sign: np.zeros((n, n + 1)) for sign in "+-"}
    total = {sign: np.zeros((n, n + 1)) for sign in "+-"}
    square = {sign: np.zeros((n, n + 1)) for sign in "+-"}
    k_used = max(min(folds, len(sampled)), 1)
    betas, label = [], "none"
    for k in range(k_used):
        others, mine = sampled[fold_of != k], sampled[fold_of == k]
        train = np.unique(np.concatenate([border, others]))
        y_train = game.values(train.tolist())
        fit = complete(train, y_train, n, stacker, rng)
        label = fit.label
        beta = 1.0
        if adaptive:
            a_oof = fit.baseline_out_of_fold(others) if baseline else np.zeros(len(others))
            y_others = y_sampled[fold_of != k]
            beta = mix_coefficient(y_others, fit.out_of_fold(others), a_oof)
        betas.append(beta)
        h = beta * fit.table(full)
        if baseline:
            h = h + (1.0 - beta) * fit.baseline(full)
        h = clip_to_range(h, y_train)
        mine_drawn = np.bincount(sizes[mine], minlength=n + 1).astype(float)
        # fold k's share of each level's samples (1 / K for the levels nobody samples)
        share = np.divide(mine_drawn, drawn, out=np.full(n + 1, 1.0 / k_used), where=drawn > 0)
        # given the other folds, fold k's coalitions of size s are uniform without
        # replacement on the level's L - (C - c) others: the Horvitz-Thompson weight
        inverse = np.divide(level - drawn + mine_drawn, drawn, out=np.zeros(n + 1), where=drawn > 0)
        r = y_sampled[fold_of == k] - h[mine]
        s_mine, s_train = sizes[mine], sizes[train]
        x, x_train = player_bits(mine, n), player_bits(train, n)
        # H_k need not equal u on every training coalition (two apparent nulls can share a
        # reduced coalition): their residuals are known, so they are added exactly
        r_train = (y_train - h[train]) * share[s_train]
        for sign, mu, x_in, x_t in zip(
            "+-", stratum_means(h, n), (x, 1.0 - x), (x_train, 1.0 - x_train), strict=True
        ):
            mean[sign] += mu * share
            np.add.at(mean[sign].T, s_train, x_t * (r_train / stratum[sign][s_train])[:, None])
            terms = residual_terms(x_in, r * inverse[s_mine] / stratum[sign][s_mine])
            np.add.at(total[sign].T, s_mine, terms)
            np.add.at(square[sign].T, s_mine, terms**2)
    values, variance = np.zeros(n), np.zeros(n)
    spread = np.divide(drawn, drawn - 1, out=np.zeros(n + 1), where=drawn > 1)
    for sign, factor in (("+", 1.0), ("-", -1.0)):
        values += factor * (mean[sign] + total[sign]).sum(axis=1) / n
        per_draw = np.divide(total[sign], drawn, out=np.zeros((n, n + 1)), where=drawn > 0)
        var = (square[sign] - drawn * per_draw**2) * spread  # of the sum over the level
        variance += np.maximum(var, 0.0).sum(axis=1) / n**2
    keep = [i for i in range(n) if i not in set(nulls)]
    values[nulls] = 0.0
    variance[nulls] = 0.0
    weights = np.zeros(n)
    weights[keep] = 1.0  # equal shares: no bias (shares by variance measured no better)
    values = share_gap(
        values, weights, game.value(game.grand) - game.value(0) - float(values.sum())
    )
    info: dict[str, float | int | str] = {
        "surrogate": label,
        "sampled": len(sampled),
        "folds": k_used,
        "null_players": len(nulls),
        "checks": checks,
    }
    if betas:
        info["beta"] = float(np.mean(betas))
    return values, np.sqrt(variance), info
