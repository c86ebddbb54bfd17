"""Sizing the fixed stratified validation subset from a tolerance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_core.utility import subset_for_tolerance, subset_size


def test_binomial_sizes() -> None:
    assert subset_size(0.05) == 100  # 0.25 / 0.0025
    assert subset_size(0.05, p=0.9) == 36  # 0.09 / 0.0025
    assert subset_size(0.1, variance=0.64) == 64
    assert subset_size(0.05, population=100) == 51  # 100 / (1 + 99 / 100), rounded up
    assert subset_size(1e-4, population=500) == 500
    assert subset_size(0.5, p=1.0) == 1


@settings(max_examples=50, deadline=None)
@given(
    tol=st.floats(0.005, 0.3),
    p=st.floats(0.0, 1.0),
    population=st.one_of(st.none(), st.integers(1, 5000)),
)
def test_the_standard_error_meets_the_tolerance(
    tol: float, p: float, population: int | None
) -> None:
    n = subset_size(tol, p=p, population=population)
    if population is None:
        fpc = 1.0
    else:  # the whole population has no sampling error
        fpc = 0.0 if n == population else (population - n) / (population - 1)
    assert math.sqrt(p * (1 - p) / n * fpc) <= tol * (1 + 1e-9)
    if population is not None:
        assert 1 <= n <= population
    # one fewer example would not do (the size is the smallest that works), unless n = 1
    if n > 1 and population is None:
        assert math.sqrt(p * (1 - p) / (n - 1)) > tol * (1 - 1e-9)


def test_smaller_tolerance_needs_more_examples() -> None:
    sizes = [subset_size(t) for t in (0.2, 0.1, 0.05, 0.02, 0.01)]
    assert sizes == sorted(sizes) and sizes[-1] == 2500


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tolerance": 0.0}, "tolerance"),
        ({"tolerance": 0.1, "p": 1.5}, "p"),
        ({"tolerance": 0.1, "variance": -1.0}, "variance"),
        ({"tolerance": 0.1, "population": 0}, "population"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        subset_size(**kwargs)  # type: ignore[arg-type]  # floats for the int field on purpose


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), tol=st.floats(0.03, 0.2), share=st.floats(0.2, 0.8))
def test_subset_is_stratified_fixed_and_sized(seed: int, tol: float, share: float) -> None:
    labels = (np.random.default_rng(seed).random(500) < share).astype(np.int64)
    a = subset_for_tolerance(labels, tol, np.random.default_rng(seed))
    b = subset_for_tolerance(labels, tol, np.random.default_rng(seed))
    assert np.array_equal(a, b) and np.all(np.diff(a) > 0)  # same seed, same sorted subset
    want = subset_size(tol, population=500)
    assert abs(len(a) - want) <= 2  # per-class rounding
    if len(a) < 500:
        assert abs(labels[a].mean() - labels.mean()) <= 1.0 / len(a) + 1e-9
