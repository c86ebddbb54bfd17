"""Coalition FedAvg at scale: every path (one coalition, incremental, batch, prefix running
sum) equals :func:`fl_core.fedavg`; the memo holds packed bits, not frozensets; a walk is
evaluated once per new prefix and counted honestly.

Broken variants played against the properties (each asserted to FAIL below):
``_SignSlip`` (the incremental update adds a leaving player instead of subtracting it),
``_SkipLast`` (the running sum forgets each prefix's newest player), ``_Forgetful``
(``values_along`` re-evaluates prefixes already in the memo), ``_FrozensetMemo`` (the memo
keeps a frozenset of the coalition beside its key, as before the scale pass).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_core import CoalitionUtility, fedavg
from fl_core.coalition_sums import CoalitionMeans
from fl_core.metrics import Metrics


def _round(n: int, d: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    deltas = list(rng.normal(size=(n, d)).astype(np.float32))
    return deltas, rng.integers(1, 100, size=n).astype(np.float64)


def _reference(deltas: list[np.ndarray], weights: np.ndarray, row: np.ndarray) -> np.ndarray:
    members = np.flatnonzero(row)
    return fedavg([deltas[i] for i in members], weights[members].tolist())


class _SignSlip(CoalitionMeans):
    def mean(self, row: np.ndarray) -> np.ndarray:
        last = self._last
        if last is not None and int(row.sum()) > 32:
            changed = np.flatnonzero(row != last[0])
            if len(changed) <= int(row.sum()) // 8:
                total = last[1] + sum(self.weights[i] * self.stacked[i] for i in changed)
                self._last = (row.copy(), total)
                return self._divide(total, row)
        return super().mean(row)


class _SkipLast(CoalitionMeans):
    def prefix_means(self, order: np.ndarray, start: int, stop: int) -> np.ndarray:
        out = super().prefix_means(order, start, stop)
        shifted = super().prefix_means(order, max(start - 1, 0), max(stop - 1, 0))
        out[len(out) - len(shifted) :] = shifted
        return out


def _paths_agree(means: CoalitionMeans, deltas: list[np.ndarray], seed: int) -> bool:
    """Leave-one-out sweep (incremental), a batch of random halves, and a walk's prefixes."""
    n = len(deltas)
    rng = np.random.default_rng(seed)
    ok = True
    for i in range(n):  # each leave-one-out differs from the previous in two players
        row = np.ones(n, dtype=bool)
        row[i] = False
        ok &= np.allclose(means.mean(row), _reference(deltas, means.weights, row), atol=1e-6)
    rows = rng.random((20, n)) < 0.5
    rows[:, 0] = True
    got = means.means(rows)
    for k, row in enumerate(rows):
        ok &= np.allclose(got[k], _reference(deltas, means.weights, row), atol=1e-6)
    order = rng.permutation(n)
    prefixes = means.prefix_means(order, 3, n)
    for j, k in enumerate(range(4, n + 1)):
        row = np.zeros(n, dtype=bool)
        row[order[:k]] = True
        ok &= np.allclose(prefixes[j], _reference(deltas, means.weights, row), atol=1e-6)
    return bool(ok)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(40, 90), seed=st.integers(0, 2**16))
def test_every_path_is_fedavg(n: int, seed: int) -> None:
    deltas, weights = _round(n, 24, seed)
    assert _paths_agree(CoalitionMeans(deltas, weights), deltas, seed)


@pytest.mark.parametrize("broken", [_SignSlip, _SkipLast])
def test_broken_sums_fail_the_property(broken: type[CoalitionMeans]) -> None:
    deltas, weights = _round(64, 24, 5)
    assert not _paths_agree(broken(deltas, weights), deltas, 5)


def _counting_utility(
    n: int, seed: int, cls: type[CoalitionUtility] = CoalitionUtility
) -> tuple[CoalitionUtility, list[int]]:
    deltas, weights = _round(n, 16, seed)
    probe = np.random.default_rng(seed + 1).normal(size=16).astype(np.float32)
    calls: list[int] = []

    def many(vectors: list[np.ndarray]) -> list[Metrics]:
        calls.append(len(vectors))
        return [Metrics(loss=float(v @ probe), accuracy=0.0, n=1) for v in vectors]

    utility = cls(
        lambda v: many([v])[0],
        np.zeros(16, np.float32),
        deltas,
        list(weights),
        metric="neg_loss",
        evaluate_many=many,
    )
    return utility, calls


class _Forgetful(CoalitionUtility):
    def values_along(self, order, stop=None):  # type: ignore[no-untyped-def]
        order = np.asarray(order)
        stop = len(order) if stop is None else stop
        self._cache = {k: v for k, v in self._cache.items() if len(k) == 0}  # drops the memo
        return super().values_along(order, stop)


def _walk_is_honest(cls: type[CoalitionUtility]) -> bool:
    n = 70
    utility, calls = _counting_utility(n, 3, cls)
    order = np.random.default_rng(4).permutation(n)
    first = utility.values_along(order[: n // 2])  # half a walk, then the whole walk
    values = utility.values_along(order)
    reference = [utility(frozenset(order[:k].tolist())) for k in range(1, n + 1)]
    return (
        np.allclose(values, reference, rtol=1e-12, atol=1e-9)
        and np.array_equal(first, values[: n // 2])
        and sum(calls) == n == utility.evaluations
    )


def test_a_walk_evaluates_each_new_prefix_once_and_counts_it() -> None:
    assert _walk_is_honest(CoalitionUtility)
    assert not _walk_is_honest(_Forgetful)


def test_masks_and_frozensets_share_one_memo() -> None:
    utility, calls = _counting_utility(70, 6)
    masks = [(1 << 70) - 1, 0b1011, (1 << 69) | 5]
    values = utility.values_of_masks(masks)
    assert utility.evaluations == 3 and calls == [3]
    again = [utility(frozenset(i for i in range(70) if m >> i & 1)) for m in masks]
    assert again == values.tolist() and utility.evaluations == 3
    assert utility.value_of_mask(masks[1]) == values[1] and len(calls) == 1
    with pytest.raises(ValueError, match="mask"):
        utility.value_of_mask(1 << 70)


class _FrozensetMemo(CoalitionUtility):
    def metrics(self, coalition):  # type: ignore[no-untyped-def]
        self.__dict__.setdefault("kept", []).append(coalition)  # the old memo's keys
        return super().metrics(coalition)


def _memo_bytes(cls: type[CoalitionUtility]) -> int:
    n = 3000
    deltas = [np.zeros(4, np.float32)] * n
    utility = cls(lambda v: Metrics(0.0, 0.0, 1), np.zeros(4, np.float32), deltas, [1.0] * n)
    rng = np.random.default_rng(0)
    rows = [np.flatnonzero(rng.random(n) < 0.5) for _ in range(200)]
    tracemalloc.start()
    for row in rows:  # each coalition built, asked for and dropped (as a caller does)
        utility(frozenset(row.tolist()))
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return size


def test_memo_holds_packed_bits_not_frozensets() -> None:
    # 200 coalitions of ~1,500 players: packed keys are 375 bytes each (~0.1 MB in all);
    # frozensets of 1,500 ints take ~64 KB each (~13 MB)
    assert _memo_bytes(CoalitionUtility) < 1_000_000
    assert _memo_bytes(_FrozensetMemo) > 5_000_000
