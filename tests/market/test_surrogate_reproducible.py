"""The surrogate estimator gives the same numbers on every CPU, to a stated tolerance.

Its fits pass through BLAS, whose kernels (AVX2, AVX-512, thread count) round differently in
the last bits. The fits are run to convergence, their gauge is fixed, and model choices are
broken by a margin (:func:`market.scoring.surrogate.stacking.first_best`), so the rounding
does not reach the estimate beyond :data:`RTOL`. Speed-ups are guarded here by a reference
computed in the same run (the slow path), never by numbers pinned on one machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from market.game import player_bits
from market.games import fl_game
from market.scoring.surrogate.families import DEFAULT_FAMILIES, fit_isotron, index_order, isotonic
from market.scoring.surrogate.stacking import Fits
from market.scoring.surrogate.ties import first_argmax, first_best
from tests.market.sampler_checks import CHEAP_STACKER

RTOL = 1e-6
"""Relative agreement of two BLAS configurations' estimates (README, "Reproducibility")."""
CASES = Path(__file__).with_name("surrogate_cases.py")


def run_cases(threads: int, kernel: str | None) -> dict[str, object]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    if kernel is not None:
        env["OPENBLAS_CORETYPE"] = kernel
    done = subprocess.run(
        [sys.executable, str(CASES)], env=env, capture_output=True, text=True, check=True
    )
    out: dict[str, object] = json.loads(done.stdout)
    return out


def test_estimates_agree_across_blas_configurations() -> None:
    # Prepare: this machine's default kernel on one thread, against two threads and (where the
    # environment does not set a kernel itself: then it needs that one) the older AVX kernel
    alternative = None if "OPENBLAS_CORETYPE" in os.environ else "Sandybridge"
    # Execute
    first = run_cases(1, None)
    second = run_cases(2, alternative)
    if first["fingerprint"] == second["fingerprint"]:
        pytest.skip("the two BLAS configurations round identically on this machine")
    # Assert: every estimate agrees to RTOL (relative to the largest value of its case)
    for name, values in first["estimates"].items():  # type: ignore[attr-defined]
        other = np.array(second["estimates"][name])  # type: ignore[index]
        scale = float(np.abs(values).max())
        np.testing.assert_allclose(other, values, rtol=0, atol=RTOL * scale, err_msg=name)


def family_data() -> tuple[np.ndarray, np.ndarray]:
    table = fl_game(8, np.random.default_rng(1004), noise=0.01).table()
    rng = np.random.default_rng(11)
    masks = np.unique(np.concatenate([[0, 255], rng.choice(256, 70, replace=False)]))
    return player_bits(masks, 8), table[masks]


class FoldBlindFits(dict):  # type: ignore[type-arg]
    """A broken fit cache: every fold gets the fit made on all rows (out-of-fold leaks)."""

    def __contains__(self, key: object) -> bool:
        return super().__contains__((key[0], -1)) if isinstance(key, tuple) else False

    def __getitem__(self, key: tuple[str, int]) -> object:
        return super().__getitem__((key[0], -1))

    def __setitem__(self, key: tuple[str, int], value: object) -> None:
        super().__setitem__((key[0], -1), value)


def oof_with_and_without_cache(fits: Fits) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    x, y = family_data()
    # the cheap stacker (no GP) with every family, five folds
    stacker = dataclasses.replace(
        CHEAP_STACKER, families=DEFAULT_FAMILIES, folds=5, max_gp_points=1000, gp_fit_points=160
    )
    sizes = x.sum(axis=1)
    holdout = np.flatnonzero((sizes >= 2) & (sizes <= 6))
    parts = np.array_split(np.random.default_rng(5).permutation(holdout), 5)
    cached, fresh = {}, {}
    for family in DEFAULT_FAMILIES:
        spec = (family, False, None)
        fits[family, -1] = stacker.fit(spec, x, y)  # as choose() leaves it for the blend
        cached[family] = stacker.out_of_fold(spec, x, y, parts, fits)
        fresh[family] = stacker.out_of_fold(spec, x, y, parts, None)
    return cached, fresh


def test_stacker_fit_cache_equals_refitting() -> None:
    # Execute: out-of-fold predictions through the fit cache and by refitting every fold
    cached, fresh = oof_with_and_without_cache({})
    # Assert: bit-identical (the same operations on the same rows, in one process)
    for family in DEFAULT_FAMILIES:
        np.testing.assert_array_equal(cached[family], fresh[family], err_msg=family)


def test_stacker_fit_cache_check_catches_a_fold_blind_cache() -> None:
    # Execute: a cache that ignores the fold
    cached, fresh = oof_with_and_without_cache(FoldBlindFits())
    # Assert: the comparison above would fail
    assert any(not np.array_equal(cached[f], fresh[f]) for f in DEFAULT_FAMILIES)


def textbook_isotonic(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pool adjacent violators, the slow way: tied ``z`` pooled first (one value per index),
    then merge the first violating pair of blocks until none."""
    blocks = [[float(y[z == v].mean()), int(np.sum(z == v))] for v in np.unique(z)]
    merged = True
    while merged:
        merged = False
        for i in range(len(blocks) - 1):
            if blocks[i][0] > blocks[i + 1][0]:
                (m1, c1), (m2, c2) = blocks[i], blocks[i + 1]
                blocks[i : i + 2] = [[(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2]]
                merged = True
                break
    return np.repeat([b[0] for b in blocks], [int(b[1]) for b in blocks])


@pytest.mark.parametrize("seed", range(20))
def test_isotonic_equals_the_textbook_algorithm(seed: int) -> None:
    # Prepare: ties in z and in y, as in coalition indices of voting games
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 6, 40).astype(float)
    y = np.round(rng.normal(size=40) + 0.1 * z, 1)
    # Execute / Assert: the same least-squares fit (pooling order may differ: 1e-12)
    np.testing.assert_allclose(isotonic(z, y), textbook_isotonic(z, y), rtol=0, atol=1e-12)


def test_first_best_breaks_near_ties_by_order_and_keeps_clear_winners() -> None:
    # Prepare: a last-bit difference between two candidates, and a clear one
    near = {"link4": 0.5 + 1e-15, "additive": 0.5}
    clear = {"link4": 0.5 + 1e-6, "additive": 0.5}
    # Execute / Assert: a near tie goes to the first listed; a real difference decides
    assert first_best(near) == "link4"
    assert first_best(dict(reversed(near.items()))) == "additive"
    assert first_best(clear) == "additive"
    assert first_best({"a": float("inf"), "b": 2.0}) == "b"


def rounded_differently(z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``z`` with last-bit noise, as another CPU computes the same index."""
    out: np.ndarray = z * (1.0 + rng.uniform(-4e-16, 4e-16, z.shape))
    return out


@pytest.mark.parametrize("seed", range(10))
def test_index_order_ignores_how_tied_indices_round(seed: int) -> None:
    # Prepare: integer indices (coalitions of equal weight tie), rounded two ways
    rng = np.random.default_rng(seed)
    z = rng.integers(1, 6, 40).astype(float) * 0.1
    y = rng.integers(0, 3, 40).astype(float)
    other = rounded_differently(z, rng)
    # Execute / Assert: the same order, so the same isotonic fit of the same coalitions
    np.testing.assert_array_equal(index_order(other, y), index_order(z, y))
    np.testing.assert_array_equal(isotonic(other, y), isotonic(z, y))
    # ... where a plain sort lets the rounding order the ties
    assert not np.array_equal(np.argsort(other, kind="stable"), np.argsort(z, kind="stable"))


def test_tied_indices_get_one_fitted_value() -> None:
    # Prepare: two coalitions with the same index and different utilities
    x = np.array([[0.0], [1.0], [1.0], [2.0]])
    y = np.array([0.0, 5.0, 1.0, 6.0])
    # Execute / Assert: the least-squares monotone fit in the index gives both their mean
    np.testing.assert_allclose(fit_isotron(x, y)(x), [0.0, 3.0, 3.0, 6.0], atol=1e-12)
    np.testing.assert_allclose(isotonic(x[:, 0], y), [0.0, 3.0, 3.0, 6.0], atol=1e-12)


def test_first_argmax_breaks_near_ties_by_position() -> None:
    # Prepare: two scores equal up to rounding, and a clearly larger one
    near = np.array([0.3, 0.7 - 1e-16, 0.7, 0.1])
    clear = np.array([0.3, 0.7, 0.7 + 1e-6])
    # Execute / Assert: the first of the tied wins; a real difference decides
    assert first_argmax(near) == 1
    assert first_argmax(near[::-1]) == 1
    assert first_argmax(clear) == 2
    assert first_argmax(np.array([1e-17, 0.0]), scale=1.0) == 0
