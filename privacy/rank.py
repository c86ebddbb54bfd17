"""Exact row-space membership of unit vectors for 0/1 matrices (the leak audit's rank test).

Client i's update is determined by released coalition sums exactly when e_i lies in the row
space over the rationals of the released coalitions' 0/1 incidence matrix A (m x n).
Everything below is integer arithmetic modulo word-size primes, with exact certificates; no
floating-point rank is ever taken.

Full row rank (the common case when m < n): if A has rank m modulo a prime p, it has rank m
over Q (its rank is at most its number of rows and at least its rank modulo p), and then e_i is
in the rational row space only if it is in the row space modulo p (the unique rational solution
of y A = e_i has denominators dividing a minor that is nonzero modulo p). So one elimination of
the m x n matrix settles every i that is not a unit row modulo p; the rest go to the test below.

Exact test. The row space of A equals that of the Gram matrix G = A^T A (n x n, integer).
Over GF(q), rank_q(M) <= rank_Q(M), with equality unless q divides every nonzero maximal minor.
Hadamard's inequality bounds every minor of G and of [G; e_i] by B = prod_rows ||g_row||_2, so
for word-size primes q_1..q_k with prod q_j > B no nonzero minor vanishes modulo all of them:
rank_Q(M) = max_j rank_{q_j}(M). Hence i is exposed iff e_i lies in the row space of G modulo
every prime q_j that attains the maximal rank. Each prime costs one O(n^3) elimination in
vectorised int64 arithmetic. Two shortcuts keep the usual cases to one prime: rank n modulo a
prime proves rank n (everyone exposed), and when the GF(q) null-space basis lifts to small
integer vectors v with G v = 0 exactly, those vectors prove rank_Q = rank_q and give the
answer directly (i is exposed iff v_i = 0 for every basis vector).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

import numpy as np
import numpy.typing as npt

_PRIME_CEILING: Final = 1 << 31
_primes: list[int] = []


def _is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin for n < 3,215,031,751 (bases 2, 3, 5, 7)."""
    if n < 2:
        return False
    for p in (2, 3, 5, 7):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(k: int) -> int:
    """The k-th largest prime below 2^31 (k = 0, 1, ...)."""
    candidate = _primes[-1] - 2 if _primes else _PRIME_CEILING - 1
    while len(_primes) <= k:
        if _is_prime(candidate):
            _primes.append(candidate)
        candidate -= 2
    return _primes[k]


def _rref_mod(matrix: npt.NDArray[np.int64], q: int) -> tuple[npt.NDArray[np.int64], list[int]]:
    """Reduced row echelon form of `matrix` over GF(q) and its pivot columns."""
    m = matrix % q
    rows, cols = m.shape
    pivots: list[int] = []
    for c in range(cols):
        r = len(pivots)
        if r == rows:
            break
        nonzero = np.flatnonzero(m[r:, c])
        if nonzero.size == 0:
            continue
        p = r + int(nonzero[0])
        if p != r:
            m[[r, p]] = m[[p, r]]
        m[r, c:] = m[r, c:] * pow(int(m[r, c]), -1, q) % q
        factors = m[:, c].copy()
        factors[r] = 0
        # row r is zero left of c; entries < q < 2^31, so m - f * row stays inside int64
        m[:, c:] = (m[:, c:] - np.outer(factors, m[r, c:])) % q
        pivots.append(c)
    return m, pivots


def _unit_rows(reduced: npt.NDArray[np.int64], pivots: list[int]) -> set[int]:
    """Pivot columns whose RREF row is a unit vector: exactly the i with e_i in the row space."""
    return {c for row, c in enumerate(pivots) if np.count_nonzero(reduced[row]) == 1}


def _rational(a: int, q: int) -> tuple[int, int] | None:
    """(num, den) with num = a * den mod q and |num|, den <= sqrt(q / 2), if there is one."""
    bound = math.isqrt(q // 2)
    r0, r1, s0, s1 = q, a % q, 0, 1
    while r1 > bound:
        quotient = r0 // r1
        r0, r1 = r1, r0 - quotient * r1
        s0, s1 = s1, s0 - quotient * s1
    if s1 == 0 or abs(s1) > bound:
        return None
    return (r1, s1) if s1 > 0 else (-r1, -s1)


def _exact_null_space(
    gram: npt.NDArray[np.int64], reduced: npt.NDArray[np.int64], pivots: list[int], q: int
) -> list[list[int]] | None:
    """Lift the GF(q) null-space basis to integer vectors and check gram @ v == 0 exactly.

    Success proves nullity_Q >= n - rank_q, hence rank_Q = rank_q, and gives a basis of the
    rational null space. None when a coordinate has no small rational lift or a check fails.
    """
    n = gram.shape[1]
    pivot_set = set(pivots)
    basis: list[list[int]] = []
    for free in (c for c in range(n) if c not in pivot_set):
        fractions: dict[int, tuple[int, int]] = {free: (1, 1)}
        for row, c in enumerate(pivots):
            lifted = _rational(-int(reduced[row, free]), q)
            if lifted is None:
                return None
            fractions[c] = lifted
        scale = math.lcm(*(den for _, den in fractions.values()))
        vector = [0] * n
        for c, (num, den) in fractions.items():
            vector[c] = num * (scale // den)
        largest = max(abs(x) for x in vector)
        if largest * int(gram.max(initial=0)) * n < 1 << 62:
            residual = gram @ np.array(vector, dtype=np.int64)
            if np.any(residual):
                return None
        else:
            for g_row in gram.tolist():
                if sum(g * x for g, x in zip(g_row, vector, strict=True)):
                    return None
        basis.append(vector)
    return basis


def released_coalitions(released: Iterable[frozenset[int]], n_players: int) -> set[frozenset[int]]:
    """The distinct non-empty released coalitions, checked to hold players 0..n_players-1.

    Raises:
        ValueError: ``n_players`` is not an int >= 0, or a coalition names another player.
    """
    if isinstance(n_players, bool) or not isinstance(n_players, int) or n_players < 0:
        raise ValueError(f"n_players: must be an int >= 0, got {n_players!r}")
    coalitions = {frozenset(s) for s in released}
    for coalition in coalitions:
        bad = [i for i in coalition if not (isinstance(i, int | np.integer) and 0 <= i < n_players)]
        if bad:
            raise ValueError(f"released: players {bad} are not in 0..{n_players - 1}")
    coalitions.discard(frozenset())
    return coalitions


def unit_vectors_in_row_space(released: Iterable[frozenset[int]], n_players: int) -> frozenset[int]:
    """Players whose individual update is a rational combination of the released sums.

    Args:
        released: the coalitions whose aggregate was released (players 0..n_players-1); the
            empty coalition and repeats add nothing.
        n_players: number of players n.

    Returns:
        The players i with e_i in the row space (over Q) of the coalitions' 0/1 matrix: all of
        them for all singletons; {i} for {S, S + i}; none for the grand coalition alone (n > 1).
    """
    coalitions = released_coalitions(released, n_players)
    if not coalitions:
        return frozenset()
    incidence = np.zeros((len(coalitions), n_players), dtype=np.int64)
    for row, coalition in enumerate(coalitions):
        incidence[row, [int(i) for i in coalition]] = 1
    if len(coalitions) < n_players:
        reduced, pivots = _rref_mod(incidence, _prime(0))
        if len(pivots) == len(coalitions):  # full row rank over Q: see the module docstring
            candidates = _unit_rows(reduced, pivots)
            if not candidates:
                return frozenset()
    # Entries of A^T A are counts <= m, exact in int64.
    gram = incidence.T @ incidence
    reduced, pivots = _rref_mod(gram, _prime(0))
    if len(pivots) == n_players:
        return frozenset(range(n_players))
    null_space = _exact_null_space(gram, reduced, pivots, _prime(0))
    if null_space is not None:
        return frozenset(i for i in range(n_players) if all(v[i] == 0 for v in null_space))
    return _multi_modular(gram)


def _multi_modular(gram: npt.NDArray[np.int64]) -> frozenset[int]:
    """Exposed players from ranks modulo enough primes to exceed the Hadamard bound."""
    norms = np.sqrt((gram.astype(np.float64) ** 2).sum(axis=1))
    bound_bits = float(np.log2(norms[norms > 0]).sum()) + 2.0
    ranks: list[int] = []
    exposed_by_prime: list[set[int]] = []
    covered_bits = 0.0
    k = 0
    while covered_bits <= bound_bits:
        q = _prime(k)
        reduced, pivots = _rref_mod(gram, q)
        ranks.append(len(pivots))
        exposed_by_prime.append(_unit_rows(reduced, pivots))
        covered_bits += math.log2(q)
        k += 1
    top = max(ranks)
    result = set(range(gram.shape[0]))
    for rank, exposed in zip(ranks, exposed_by_prime, strict=True):
        if rank == top:
            result &= exposed
    return frozenset(result)
