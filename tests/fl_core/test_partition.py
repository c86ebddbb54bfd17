"""Partitioners: sizes add up, shards are disjoint, alpha behaves, seeds reproduce."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_core.partition import (
    allocate,
    dirichlet_partition,
    flip_labels,
    iid_partition,
    quantity_skew_partition,
)


def _labels(n: int = 1000, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < 0.65).astype(np.int64)


def _is_partition(shards: list[np.ndarray], n: int) -> bool:
    joined = np.concatenate(shards)
    return len(joined) == n and len(np.unique(joined)) == n


@given(n=st.integers(10, 500), k=st.integers(1, 10), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_iid_and_quantity_cover_the_pool_exactly(n: int, k: int, seed: int) -> None:
    for part in (iid_partition, quantity_skew_partition):
        shards = part(n, k, np.random.default_rng(seed))
        assert len(shards) == k
        assert _is_partition(shards, n)
        assert min(len(s) for s in shards) >= 1


@given(alpha=st.sampled_from([0.05, 0.5, 5.0]), k=st.integers(2, 12), seed=st.integers(0, 999))
@settings(max_examples=30, deadline=None)
def test_dirichlet_covers_the_pool_exactly(alpha: float, k: int, seed: int) -> None:
    labels = _labels()
    shards = dirichlet_partition(labels, k, alpha, np.random.default_rng(seed))
    assert _is_partition(shards, len(labels))


def _mean_skew(alpha: float) -> float:
    """Mean |positive share - global share| over clients and seeds."""
    labels = _labels()
    skews = []
    for seed in range(20):
        for shard in dirichlet_partition(labels, 10, alpha, np.random.default_rng(seed)):
            skews.append(abs(labels[shard].mean() - labels.mean()))
    return float(np.mean(skews))


def test_small_alpha_skews_labels_more_than_large_alpha() -> None:
    assert _mean_skew(0.1) > 3 * _mean_skew(100.0)
    assert _mean_skew(100.0) < 0.05


def test_quantity_skew_grows_with_sigma() -> None:
    def spread(sigma: float) -> float:
        sizes = [
            np.std(
                [len(s) for s in quantity_skew_partition(2000, 10, np.random.default_rng(i), sigma)]
            )
            for i in range(20)
        ]
        return float(np.mean(sizes))

    assert spread(2.0) > 2 * spread(0.1)


def test_same_seed_same_shards_other_seed_other_shards() -> None:
    labels = _labels()
    a = dirichlet_partition(labels, 5, 0.3, np.random.default_rng(7))
    b = dirichlet_partition(labels, 5, 0.3, np.random.default_rng(7))
    c = dirichlet_partition(labels, 5, 0.3, np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_allocate_meets_sizes_and_class_mix() -> None:
    labels = _labels(2000)
    mix = np.array([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5]])
    shards = allocate(labels, [200, 200, 100], mix, np.random.default_rng(0))
    assert [len(s) for s in shards] == [200, 200, 100]
    assert len(np.unique(np.concatenate(shards))) == 500
    assert labels[shards[0]].mean() < 0.2 < 0.8 < labels[shards[1]].mean()


def test_allocate_refuses_more_than_the_pool_without_replacement() -> None:
    with pytest.raises(ValueError, match="sizes"):
        allocate(_labels(100), [80, 80], None, np.random.default_rng(0))
    shards = allocate(_labels(100), [80, 80], None, np.random.default_rng(0), replace=True)
    assert [len(s) for s in shards] == [80, 80]


def test_flip_labels_flips_the_requested_share() -> None:
    labels = _labels(20000)
    noisy = flip_labels(labels, 0.3, 2, np.random.default_rng(0))
    assert abs((noisy != labels).mean() - 0.3) < 0.02
    assert np.array_equal(flip_labels(labels, 0.0, 2, np.random.default_rng(0)), labels)


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValueError, match="alpha"):
        dirichlet_partition(_labels(), 3, 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_clients"):
        iid_partition(3, 5, np.random.default_rng(0))


def _allocate_per_client_scan(labels, sizes, props, rng, replace):  # type: ignore[no-untyped-def]
    """The allocator before the scale pass (pools as lists, a class scan per client)."""
    classes = np.unique(labels)
    pools = {int(c): list(rng.permutation(np.flatnonzero(labels == c))) for c in classes}
    shards = []
    for k, size in enumerate(sizes):
        if props is None:
            mix = np.array([len(pools[int(c)]) for c in classes], dtype=float)
            mix = mix / mix.sum() if mix.sum() > 0 else np.full(len(classes), 1 / len(classes))
        else:
            mix = np.asarray(props[k], dtype=float)
        counts = rng.multinomial(int(size), mix / mix.sum())
        chosen: list[int] = []
        if replace:
            for c, count in zip(classes, counts, strict=True):
                members = np.flatnonzero(labels == c)
                chosen.extend(rng.choice(members, size=int(count), replace=True).tolist())
        else:
            shortfall = 0
            for c, count in zip(classes, counts, strict=True):
                pool = pools[int(c)]
                take = min(int(count), len(pool))
                chosen.extend(pool[:take])
                del pool[:take]
                shortfall += int(count) - take
            for c in rng.permutation(classes):
                pool = pools[int(c)]
                take = min(shortfall, len(pool))
                chosen.extend(pool[:take])
                del pool[:take]
                shortfall -= take
        shards.append(np.sort(np.asarray(chosen, dtype=np.int64)))
    return shards


@given(seed=st.integers(0, 2**16), replace=st.booleans(), skew=st.booleans())
@settings(max_examples=25, deadline=None)
def test_allocate_draws_what_the_per_client_scan_drew(seed: int, replace: bool, skew: bool) -> None:
    # the scale pass precomputes class members and keeps pool offsets: same draws, same shards
    # (mutation tried: not advancing a pool offset after a take; this test fails)
    labels = np.random.default_rng(seed).integers(0, 3, size=300)
    props = np.random.default_rng(seed + 1).dirichlet([0.4] * 3, size=40) if skew else None
    sizes = [12 if replace else 7] * 40
    got = allocate(labels, sizes, props, np.random.default_rng(seed), replace=replace)
    want = _allocate_per_client_scan(labels, sizes, props, np.random.default_rng(seed), replace)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got, want, strict=True))
