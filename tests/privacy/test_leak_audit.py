"""exposed_clients: exact row-space membership of e_i in the released coalitions' matrix."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy import audit, exposed_clients


def float_oracle(coalitions: list[frozenset[int]], n: int) -> frozenset[int]:
    """e_i in the row space iff appending it leaves the (floating-point) rank unchanged."""
    if not coalitions:
        return frozenset()
    matrix = np.array([[1.0 if i in c else 0.0 for i in range(n)] for c in coalitions])
    rank = np.linalg.matrix_rank(matrix)
    return frozenset(
        i for i in range(n) if np.linalg.matrix_rank(np.vstack([matrix, np.eye(n)[i]])) == rank
    )


def test_all_singletons_expose_everyone() -> None:
    assert exposed_clients([frozenset({i}) for i in range(6)], 6) == frozenset(range(6))


@pytest.mark.parametrize(("coalition", "i"), [(frozenset(), 0), (frozenset({0, 2}), 3)])
def test_a_coalition_and_it_plus_i_expose_exactly_i(coalition: frozenset[int], i: int) -> None:
    assert exposed_clients([coalition, coalition | {i}], 5) == frozenset({i})


@pytest.mark.parametrize(("n", "k"), [(4, 2), (5, 2), (6, 3), (7, 4), (5, 4)])
def test_all_k_subsets_expose_everyone(n: int, k: int) -> None:
    coalitions = [frozenset(c) for c in itertools.combinations(range(n), k)]
    assert exposed_clients(coalitions, n) == frozenset(range(n))


@pytest.mark.parametrize("n", [2, 3, 10, 50])
def test_the_grand_coalition_alone_exposes_no_one(n: int) -> None:
    assert exposed_clients([frozenset(range(n))], n) == frozenset()
    assert exposed_clients([frozenset(range(n))] * 3, n) == frozenset()


def test_one_player_grand_coalition_is_that_player() -> None:
    assert exposed_clients([frozenset({0})], 1) == frozenset({0})
    assert exposed_clients([], 4) == frozenset()


def test_players_always_together_stay_hidden() -> None:
    # Leave-one-out over 6 players where 0 and 1 always appear together: 2..5 are exposed.
    coalitions = [frozenset(range(6)) - {i} for i in range(2, 6)] + [frozenset(range(6))]
    assert exposed_clients(coalitions, 6) == frozenset({2, 3, 4, 5})


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="n_players"):
        exposed_clients([], -1)
    with pytest.raises(ValueError, match="released"):
        exposed_clients([frozenset({3})], 3)


coalition_lists = st.integers(1, 7).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.frozensets(st.integers(0, n - 1)), max_size=10),
    )
)


@given(case=coalition_lists)
@settings(max_examples=200, deadline=None)
def test_matches_floating_point_rank_on_small_matrices(
    case: tuple[int, list[frozenset[int]]],
) -> None:
    n, coalitions = case
    assert exposed_clients(coalitions, n) == float_oracle(coalitions, n)


@given(case=coalition_lists)
@settings(max_examples=100, deadline=None)
def test_multi_modular_path_agrees(case: tuple[int, list[frozenset[int]]]) -> None:
    """The fallback (ranks modulo enough primes) gives the same answer as the fast path."""
    n, coalitions = case
    rows = [c for c in set(coalitions) if c]
    if not rows:
        return
    incidence = np.array([[1 if i in c else 0 for i in range(n)] for c in rows], dtype=np.int64)
    assert audit._multi_modular(incidence.T @ incidence) == float_oracle(rows, n)


def test_large_structured_release_is_fast_and_exact() -> None:
    # 120 players, 3,000 random coalitions that always contain 0 and 1 together.
    rng = np.random.default_rng(0)
    coalitions = [
        frozenset(np.flatnonzero(rng.random(120) < 0.5).tolist()) | {0, 1} for _ in range(3000)
    ]
    assert exposed_clients(coalitions, 120) == frozenset(range(2, 120))
