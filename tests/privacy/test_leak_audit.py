"""exposed_clients: exact row-space membership of e_i in the released coalitions' matrix."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import TypeAlias

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy import audit, exposed_clients, leak_report, rank

Release: TypeAlias = tuple[int, list[frozenset[int]]]
"""(n, the coalitions of players 0..n-1 whose sums were released)"""


def incidence(coalitions: Iterable[frozenset[int]], n: int, dtype: type = float) -> np.ndarray:
    """The 0/1 matrix with a row per coalition and a column per player."""
    return np.array([[1 if i in c else 0 for i in range(n)] for c in coalitions], dtype=dtype)


def float_determined(group: frozenset[int], coalitions: list[frozenset[int]], n: int) -> bool:
    """1_G in the row space iff appending it leaves the (floating-point) rank unchanged."""
    matrix = incidence(coalitions, n)
    indicator = incidence([group], n)
    return bool(
        np.linalg.matrix_rank(np.vstack([matrix, indicator])) == np.linalg.matrix_rank(matrix)
    )


def float_oracle(coalitions: list[frozenset[int]], n: int) -> frozenset[int]:
    """The players i whose unit vector e_i is in the row space, by floating-point rank."""
    if not coalitions:
        return frozenset()
    return frozenset(i for i in range(n) if float_determined(frozenset({i}), coalitions, n))


def smallest_group(
    coalitions: list[frozenset[int]],
    n: int,
    is_determined: Callable[[frozenset[int], list[frozenset[int]], int], bool],
) -> int:
    """Brute force over every group: the size of the smallest determined one (0: nothing
    released)."""
    rows = [c for c in set(coalitions) if c]
    if not rows:
        return 0
    for size in range(1, n + 1):
        for group in itertools.combinations(range(n), size):
            if is_determined(frozenset(group), rows, n):
                return size
    raise AssertionError("unreachable: every released coalition is a determined group")


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
def test_matches_floating_point_rank_on_small_matrices(case: Release) -> None:
    n, coalitions = case
    assert exposed_clients(coalitions, n) == float_oracle(coalitions, n)


@given(case=coalition_lists)
@settings(max_examples=100, deadline=None)
def test_multi_modular_path_agrees(case: Release) -> None:
    """The fallback (ranks modulo enough primes) gives the same answer as the fast path."""
    n, coalitions = case
    rows = [c for c in set(coalitions) if c]
    if not rows:
        return
    matrix = incidence(rows, n, np.int64)
    assert rank._multi_modular(matrix.T @ matrix) == float_oracle(rows, n)


def test_large_structured_release_is_fast_and_exact() -> None:
    # 120 players, 3,000 random coalitions that always contain 0 and 1 together.
    rng = np.random.default_rng(0)
    coalitions = [
        frozenset(np.flatnonzero(rng.random(120) < 0.5).tolist()) | {0, 1} for _ in range(3000)
    ]
    assert exposed_clients(coalitions, 120) == frozenset(range(2, 120))


@given(case=coalition_lists)
@settings(max_examples=150, deadline=None)
def test_group_bound_and_witness_bracket_the_true_smallest_group(case: Release) -> None:
    n, coalitions = case
    report = leak_report(coalitions, n)
    true_size = smallest_group(coalitions, n, float_determined)
    # the lower bound is proven, the witness really is determined, and they bracket the truth
    assert report.smallest_group_at_least <= true_size <= len(report.smallest_group)
    if report.smallest_group:
        assert smallest_group([*coalitions], n, float_determined) <= len(report.smallest_group)
        rows = [c for c in set(coalitions) if c]
        assert float_determined(report.smallest_group, rows, n)
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
        matrix = incidence(rows, n, np.int64)
        assert exposed_clients(coalitions, n) == rank._multi_modular(matrix.T @ matrix)


# ----- the audit as a range: witness, proven bound, exact flag (issue 27 M2) -----


def determined(group: frozenset[int], coalitions: list[frozenset[int]], n: int) -> bool:
    """1_G in the rational row space, by `privacy.rank`'s exact test: add a player z = n and
    release G + {z}; e_z is then determined iff some combination of the releases equals 1_G."""
    return n in rank.unit_vectors_in_row_space([*coalitions, group | {n}], n + 1)


def test_determined_helper_is_the_row_space_test() -> None:
    assert determined(frozenset({0}), [frozenset({0, 1}), frozenset({1})], 2)
    assert not determined(frozenset({0}), [frozenset({0, 1})], 2)
    assert determined(frozenset({2, 3}), [frozenset({0, 1}), frozenset(range(4))], 4)


@st.composite
def releases(draw: st.DrawFn) -> Release:
    """Releases like the marketplace's: permutation walks (truncated), a chain of prefixes with
    gaps, leave-one-out sets, random coalitions, and the round's total."""
    n = draw(st.integers(1, 12))
    players = st.permutations(list(range(n)))
    released: list[frozenset[int]] = []
    for order in draw(st.lists(players, max_size=3)):  # walks: consecutive prefixes
        stop = draw(st.integers(1, n))
        released += [frozenset(order[:j]) for j in range(1, stop + 1)]
    if draw(st.booleans()):  # one chain with gaps
        order = draw(players)
        cuts = draw(st.sets(st.integers(1, n)))
        released += [frozenset(order[:j]) for j in sorted(cuts)]
    if draw(st.booleans()):  # leave-one-out
        grand = frozenset(range(n))
        released += [grand - {i} for i in draw(st.sets(st.integers(0, n - 1)))]
    released += draw(st.lists(st.frozensets(st.integers(0, n - 1)), max_size=8))
    if draw(st.booleans()):
        released.append(frozenset(range(n)))
    return n, released


def check_range(n: int, released: list[frozenset[int]]) -> None:
    """What a user of the report relies on: bound <= witness, and the witness is computable."""
    report = leak_report(released, n)
    rows = [c for c in set(released) if c]
    assert report.smallest_group_at_least <= len(report.smallest_group)
    assert bool(report.smallest_group) == bool(rows)
    if rows:
        assert report.smallest_group_at_least >= 1
        assert determined(report.smallest_group, rows, n), sorted(report.smallest_group)
    assert report.exact == (report.smallest_group_at_least == len(report.smallest_group))


@pytest.mark.parametrize("all_pairs_up_to", [audit.ALL_PAIRS_UP_TO, 0])
@given(case=releases())
@settings(max_examples=150, deadline=None)
def test_the_bound_never_exceeds_the_witness_and_the_witness_is_computable(
    all_pairs_up_to: int, case: Release
) -> None:
    """Both witness searches (every nested pair; the linear one, forced by a 0 threshold)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "ALL_PAIRS_UP_TO", all_pairs_up_to)
        check_range(*case)


def test_a_witness_search_without_the_subset_check_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Broken variant: difference each coalition with the previous one, nested or not; the
    witness is then often not computable and `check_range` fails."""
    monkeypatch.setattr(audit, "ALL_PAIRS_UP_TO", 0)
    monkeypatch.setattr(
        audit,
        "_nested_differences",
        lambda coalitions, n: [t - s for s, t in itertools.pairwise(coalitions) if t - s],
    )
    rng = np.random.default_rng(0)
    caught = 0
    for _ in range(50):
        n = int(rng.integers(3, 9))
        released = [frozenset(np.flatnonzero(rng.random(n) < 0.5).tolist()) for _ in range(4)]
        try:
            check_range(n, released)
        except AssertionError:
            caught += 1
    assert caught > 0


# The witness {0, 4, 6} = {0, 1, 3, 4, 6, 7} - {1, 3, 7} has 3 clients, but a group of 2 is
# computable and the bound (the two smallest atoms) is 2: found by a random search at n = 8.
NOT_EXACT = (8, [frozenset({0, 1, 2, 4, 6}), frozenset({0, 1, 3, 4, 6, 7}), frozenset({1, 3, 7})])


def check_exact(n: int, released: list[frozenset[int]]) -> None:
    """The bound and the witness bracket the true minimum; `exact` only when the witness is it."""
    report = leak_report(released, n)
    true_size = smallest_group(released, n, determined)  # with `privacy.rank`'s exact test
    assert report.smallest_group_at_least <= true_size <= len(report.smallest_group)
    if report.exact:
        assert len(report.smallest_group) == true_size


small_releases = st.integers(1, 8).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.frozensets(st.integers(0, n - 1)), max_size=6))
)


@given(case=small_releases)
@settings(max_examples=80, deadline=None)
def test_brute_force_minimum_is_bracketed_and_exact_means_it(case: Release) -> None:
    check_exact(*case)


def test_a_release_whose_witness_is_not_the_minimum_is_not_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n, released = NOT_EXACT
    report = leak_report(released, n)
    assert (len(report.smallest_group), report.smallest_group_at_least) == (3, 2)
    assert smallest_group(released, n, determined) == 2 and not report.exact
    # broken variant: an audit that calls every witness exact fails check_exact here
    monkeypatch.setattr(audit.LeakReport, "exact", property(lambda self: True))
    with pytest.raises(AssertionError):
        check_exact(n, released)


def quadratic_smallest(coalitions: list[frozenset[int]]) -> int:
    """The old witness search: the smallest release or difference of any nested pair."""
    rows = [c for c in set(coalitions) if c]
    return min(len(g) for g in [*rows, *(t - s for s in rows for t in rows if s < t)])


def linear_smallest(coalitions: list[frozenset[int]], n: int) -> int:
    """The linear search (what leak_report uses beyond ALL_PAIRS_UP_TO releases)."""
    rows = sorted({c for c in coalitions if c}, key=lambda c: (len(c), sorted(c)))
    return min(len(g) for g in [*rows, *audit._nested_differences(rows, n)])


@st.composite
def prefix_releases(draw: st.DrawFn) -> Release:
    """Permutation walks (Shapley, TMC: truncated), or one chain of prefixes with gaps; with
    the round's total."""
    n = draw(st.integers(2, 30))
    players = st.permutations(list(range(n)))
    released = [frozenset(range(n))]
    if draw(st.booleans()):
        for order in draw(st.lists(players, min_size=1, max_size=4)):
            stop = draw(st.integers(1, n))
            released += [frozenset(order[:j]) for j in range(1, stop + 1)]
    else:
        order = draw(players)
        released += [frozenset(order[:j]) for j in sorted(draw(st.sets(st.integers(1, n))))]
    return n, released


@given(case=prefix_releases())
@settings(max_examples=200, deadline=None)
def test_nested_prefixes_give_the_quadratic_searchs_witness(case: Release) -> None:
    n, released = case
    assert linear_smallest(released, n) == quadratic_smallest(released)


def test_nested_prefixes_beyond_the_all_pairs_threshold() -> None:
    """Prefixes 101..200 of one permutation, every third prefix 99..300 of another (m > 64):
    the audit finds the quadratic search's witness; a search using the released coalitions
    only does not."""
    rng = np.random.default_rng(1)
    short, long = rng.permutation(200).tolist(), rng.permutation(300).tolist()
    chains = {  # the larger half of each chain, so that no release is itself small
        "prefixes": (200, [frozenset(short[:j]) for j in range(101, 201)]),
        "gapped": (300, [frozenset(long[:j]) for j in range(99, 301, 3)]),
    }
    for n, released in chains.values():
        assert len(set(released)) > audit.ALL_PAIRS_UP_TO
        assert linear_smallest(released, n) == quadratic_smallest(released)
        assert len(leak_report(released, n).smallest_group) == quadratic_smallest(released)
    # broken variant: witnesses from the released coalitions alone are larger on prefixes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "_nested_differences", lambda coalitions, n: list(coalitions))
        assert all(linear_smallest(r, n) > quadratic_smallest(r) for n, r in chains.values())
