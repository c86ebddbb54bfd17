"""exposed_clients: exact row-space membership of e_i in the released coalitions' matrix."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy import exposed_clients, leak_report, rank


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
    assert rank._multi_modular(incidence.T @ incidence) == float_oracle(rows, n)


def test_large_structured_release_is_fast_and_exact() -> None:
    # 120 players, 3,000 random coalitions that always contain 0 and 1 together.
    rng = np.random.default_rng(0)
    coalitions = [
        frozenset(np.flatnonzero(rng.random(120) < 0.5).tolist()) | {0, 1} for _ in range(3000)
    ]
    assert exposed_clients(coalitions, 120) == frozenset(range(2, 120))


def group_oracle(coalitions: list[frozenset[int]], n: int) -> int:
    """Brute force: the size of the smallest group whose indicator is in the row space."""
    rows = [c for c in set(coalitions) if c]
    if not rows:
        return 0
    matrix = np.array([[1.0 if i in c else 0.0 for i in range(n)] for c in rows])
    rank_a = np.linalg.matrix_rank(matrix)
    for size in range(1, n + 1):
        for group in itertools.combinations(range(n), size):
            indicator = np.zeros(n)
            indicator[list(group)] = 1.0
            if np.linalg.matrix_rank(np.vstack([matrix, indicator])) == rank_a:
                return size
    raise AssertionError("unreachable: every released coalition is a determined group")


@given(case=coalition_lists)
@settings(max_examples=150, deadline=None)
def test_group_bound_and_witness_bracket_the_true_smallest_group(
    case: tuple[int, list[frozenset[int]]],
) -> None:
    n, coalitions = case
    report = leak_report(coalitions, n)
    true_size = group_oracle(coalitions, n)
    # the lower bound is proven, the witness really is determined, and they bracket the truth
    assert report.smallest_group_at_least <= true_size <= len(report.smallest_group)
    if report.smallest_group:
        assert group_oracle([*coalitions], n) <= len(report.smallest_group)
        witness = report.smallest_group
        matrix = np.array(
            [[1.0 if i in c else 0.0 for i in range(n)] for c in set(coalitions) if c]
        )
        indicator = np.array([1.0 if i in witness else 0.0 for i in range(n)])
        assert np.linalg.matrix_rank(np.vstack([matrix, indicator])) == np.linalg.matrix_rank(
            matrix
        )
    assert report.exposed == float_oracle([c for c in coalitions if c], n)


def test_group_report_on_the_usual_releases_is_exact() -> None:
    grand = frozenset(range(6))
    alone = leak_report([grand], 6)
    assert alone.exact and alone.smallest_group == grand and not alone.exposed
    pair = leak_report([grand, grand - {0, 1}], 6)  # {0, 1} always together: their sum only
    assert pair.exact and pair.smallest_group == {0, 1} and not pair.exposed
    loo = leak_report([grand] + [grand - {i} for i in range(6)], 6)
    assert loo.exact and len(loo.smallest_group) == 1 and loo.exposed == grand


def test_full_row_rank_shortcut_agrees_with_the_gram_path() -> None:
    """m < n random coalitions take the one-prime full-row-rank path; compare the slow path.

    Mutation tried: returning the unit rows modulo p without the full-row-rank condition
    gives wrong answers on the dependent releases of test_all_k_subsets_expose_everyone.
    """
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(4, 12))
        m = int(rng.integers(1, n))
        coalitions = [frozenset(np.flatnonzero(rng.random(n) < 0.5).tolist()) for _ in range(m)]
        rows = [c for c in set(coalitions) if c]
        if not rows:
            continue
        incidence = np.array([[1 if i in c else 0 for i in range(n)] for c in rows], dtype=np.int64)
        assert exposed_clients(coalitions, n) == rank._multi_modular(incidence.T @ incidence)
