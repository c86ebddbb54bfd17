"""Which coalitions a surrogate evaluates: border enumeration, then paired sampling.

Border enumeration (the "border trick" of Fumagalli et al. 2023, "SHAP-IQ", NeurIPS): sizes
carry Shapley weight ``1 / (n * C(n-1, s))`` per coalition, so the smallest and largest sizes
matter most per evaluation. Paired sampling (Covert & Lee 2021, "Improving KernelSHAP",
AISTATS): the rest of the budget goes to pairs ``(S, N - S)`` drawn without replacement with
the Shapley-kernel size mass ``~ 1 / (s (n - s))``.
"""

from __future__ import annotations

import math

import numpy as np

from market.game import player_bits, popcounts
from market.scoring.surrogate.families import Predictor
from market.types import FloatArray, IntArray


def _pair_quota(n: int, sizes: list[int], n_pairs: int, rng: np.random.Generator) -> list[int]:
    """Split ``n_pairs`` over sizes ``s <= n/2`` by kernel mass, capped by level capacity."""
    capacity = [math.comb(n, s) // (2 if 2 * s == n else 1) for s in sizes]
    mass = np.array([(0.5 if 2 * s == n else 1.0) / (s * (n - s)) for s in sizes])
    quota = [0] * len(sizes)
    left = min(n_pairs, sum(capacity))
    open_ = [k for k in range(len(sizes)) if capacity[k] > 0]
    while left > 0 and open_:
        share = mass[open_] / mass[open_].sum() * left
        base = np.floor(share).astype(int)
        extra = left - int(base.sum())
        if extra > 0:
            frac = share - base
            probs = frac / frac.sum() if frac.sum() > 0 else None
            picks = rng.choice(len(open_), size=extra, replace=False, p=probs)
            base[picks] += 1
        for j, k in enumerate(open_):
            take = min(int(base[j]), capacity[k] - quota[k])
            quota[k] += take
            left -= take
        open_ = [k for k in open_ if quota[k] < capacity[k]]
    return quota


def design(
    n: int, budget: int, rng: np.random.Generator, border_levels: int = 2
) -> tuple[IntArray, int, int]:
    """Choose the coalitions to evaluate: up to ``border_levels`` full levels on each side
    (sizes ``0 .. border_levels-1`` and ``n-border_levels+1 .. n``), then paired samples.

    Returns:
        The bitmasks, and the smallest and largest sizes *not* fully enumerated.
    """
    sizes_of = popcounts(n)
    chosen: list[IntArray] = []
    used = 0
    low, high = 0, n
    while low <= high and low < border_levels:
        cost = math.comb(n, low) + (math.comb(n, high) if high != low else 0)
        if used + cost > budget:
            break
        levels = [low] if low == high else [low, high]
        for s in levels:
            chosen.append(np.flatnonzero(sizes_of == s).astype(np.int64))
        used += cost
        low, high = low + 1, high - 1
    grand = (1 << n) - 1
    middle = [s for s in range(low, high + 1) if 2 * s <= n]
    n_pairs = (budget - used) // 2
    if middle and n_pairs > 0:
        for s, k in zip(middle, _pair_quota(n, middle, n_pairs, rng), strict=True):
            if k == 0:
                continue
            level = np.flatnonzero(sizes_of == s).astype(np.int64)
            if 2 * s == n:
                level = level[(level & 1) == 1]  # one representative per pair {S, N - S}
            picked = rng.choice(level, size=k, replace=False)
            chosen.append(picked)
            chosen.append(grand ^ picked)
    masks = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    if low <= high and len(masks) < budget:  # an odd evaluation left: one unpaired coalition
        in_middle = np.flatnonzero((sizes_of >= low) & (sizes_of <= high)).astype(np.int64)
        unused = np.setdiff1d(in_middle, masks)
        if unused.size:
            masks = np.append(masks, rng.choice(unused))
    return masks, low, high


def impute(predict: Predictor, n: int) -> FloatArray:
    """Evaluate the surrogate on all ``2**n`` coalitions, in chunks."""
    size = 1 << n
    table = np.empty(size)
    chunk = 1 << 12
    for start in range(0, size, chunk):
        block = np.arange(start, min(start + chunk, size), dtype=np.int64)
        table[block] = predict(player_bits(block, n))
    return table
