"""Leak audit: which clients, and which groups of clients, released coalition sums give away.

Secure aggregation hides individual updates inside one sum, but contribution scoring releases
the aggregates of many coalitions. Each release is a linear equation in the clients' (weighted)
updates (with FedAvg, n_{S+i} w_{S+i} - n_S w_S = n_i w_i when the weights are public). The
sum over a group G is determined exactly when its indicator 1_G lies in the rational row space
of the released coalitions' 0/1 incidence matrix (tested exactly by `privacy.rank`).

Clients that appear in exactly the same released coalitions form an *atom*; every vector of
the row space is constant on atoms, so every determined group is a union of atoms, and an atom
is determined iff its unit vector is in the row space of the atom-by-coalition matrix.
`leak_report` gives the exposed clients (determined singletons) and the smallest determined
group as a range: a witness (a determined group it found: the server can compute its sum) and
a proven lower bound (no determined group is smaller), with `LeakReport.exact` when they meet.
The exact minimum is a minimum-weight problem over a subspace with no known fast algorithm in
general; the bound and the witness agree in the usual cases (one coalition, leave-one-out,
nested permutation prefixes, any release that exposes someone). Witnesses are the determined
atoms, the released coalitions and differences t - s of nested releases, found in work linear
in the total size of the releases (`_nested_differences`).

Threat model: an honest-but-curious server that knows every released coalition sum and the
public weights and takes any rational linear combination of them; what it learns beyond
linear algebra (priors on the updates, side information) is out of scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np

from privacy.rank import released_coalitions, unit_vectors_in_row_space

ALL_PAIRS_UP_TO: Final = 64
"""Up to this many distinct releases, every nested pair is differenced (<= 2,016 subset tests)."""


@dataclass(frozen=True)
class LeakReport:
    """What the released coalition sums of one round determine.

    Attributes:
        exposed: clients whose individual update is determined.
        smallest_group: a witness: a determined group (the server can compute its sum), the
            smallest the audit found; not proven smallest unless `exact` (empty: nothing
            released).
        smallest_group_at_least: a proven bound: no determined group has fewer clients (0:
            nothing released).
    """

    exposed: frozenset[int]
    smallest_group: frozenset[int]
    smallest_group_at_least: int

    @property
    def exact(self) -> bool:
        """Whether `smallest_group` is proven smallest."""
        return len(self.smallest_group) == self.smallest_group_at_least


def leak_report(released: Iterable[frozenset[int]], n_players: int) -> LeakReport:
    """Exposed clients and the smallest determined group of one round's released sums.

    Work is linear in the total size of the released coalitions, plus sorting them and
    `privacy.rank`'s exact test on the atom-by-coalition matrix: beyond `ALL_PAIRS_UP_TO`
    releases no pair of coalitions is compared (see `_nested_differences`); up to it, every
    nested pair is differenced (a constant number of subset tests).

    Args:
        released: the coalitions whose aggregate was released (players 0..n_players-1),
            including the round's total if it was released; empty sets and repeats add nothing.
        n_players: number of players n.
    """
    coalitions = sorted(released_coalitions(released, n_players), key=lambda c: (len(c), sorted(c)))
    if not coalitions:
        return LeakReport(frozenset(), frozenset(), 0)
    if len(coalitions) == 1:  # one release (e.g. the lone grand coalition): only its own sum
        only = coalitions[0]
        return LeakReport(only if len(only) == 1 else frozenset(), only, len(only))
    appears_in: dict[int, list[int]] = {}
    for k, coalition in enumerate(coalitions):
        for i in coalition:
            appears_in.setdefault(i, []).append(k)
    columns: dict[tuple[int, ...], list[int]] = {}
    for i in sorted(appears_in):
        columns.setdefault(tuple(appears_in[i]), []).append(i)
    atoms = [frozenset(members) for members in columns.values()]
    members_of: list[set[int]] = [set() for _ in coalitions]
    for a, key in enumerate(columns):
        for k in key:
            members_of[k].add(a)
    by_atom = [frozenset(m) for m in members_of]
    determined = [atoms[a] for a in sorted(unit_vectors_in_row_space(by_atom, len(atoms)))]
    exposed = frozenset(i for atom in determined if len(atom) == 1 for i in atom)
    # witnesses: determined atoms, released coalitions, nested differences t - s
    if len(coalitions) <= ALL_PAIRS_UP_TO:
        differences = [t - s for s in coalitions for t in coalitions if s < t]
    else:
        differences = _nested_differences(coalitions, n_players)
    smallest = _smallest([*determined, coalitions[0], *differences])
    # proof: a determined group is one determined atom or a union of at least two atoms
    sizes = sorted(len(a) for a in atoms)
    bound = min(
        [len(a) for a in determined] + [sizes[0] + sizes[1] if len(sizes) > 1 else len(smallest)]
    )
    return LeakReport(exposed, smallest, min(bound, len(smallest)))


def _smallest(groups: list[frozenset[int]]) -> frozenset[int]:
    """The smallest group, ties broken by its sorted members (deterministic)."""
    size = min(len(g) for g in groups)
    return min((g for g in groups if len(g) == size), key=sorted)


def _nested_differences(coalitions: list[frozenset[int]], n_players: int) -> list[frozenset[int]]:
    """For each coalition t, t - s for the largest released proper subset s that is found.

    |t - s| = |t| - |s|, so the largest subset of t gives t's smallest difference. Two lookups
    find it, each linear in |t|:

    - leave-one-out: s = t - {i} is looked up by a set hash (XOR of one random 64-bit key per
      player, so removing i is one XOR), checked on a hit; a hit is a difference of one client,
      the least possible, and ends the search. This finds every {S, S + i} pair: consecutive
      permutation prefixes (Shapley, TMC), leave-one-out and Banzhaf pairs.
    - the latest container: coalitions are visited by size; for each player, the last visited
      coalition holding it is remembered, and t is checked against those candidates, largest
      first, within a budget of 2|t| membership tests. In a laminar family (chains of prefixes
      with gaps, trees) every candidate is a subset of t and the largest is the largest subset;
      for the grand coalition (or any union of all releases) the largest release is found.

    The exact largest subset of every t in an arbitrary family is a subset-query problem with no
    known subquadratic algorithm; outside the cases above a larger difference may be returned,
    which only weakens the witness (never the proven lower bound).
    """
    keys = [int(k) for k in np.random.default_rng(0).integers(0, 2**63, size=n_players)]
    by_hash: dict[int, list[frozenset[int]]] = {}
    hashes: list[int] = []
    for coalition in coalitions:
        h = 0
        for i in coalition:
            h ^= keys[i]
        hashes.append(h)
        by_hash.setdefault(h, []).append(coalition)
    for t, h in zip(coalitions, hashes, strict=True):
        for i in t:
            for s in by_hash.get(h ^ keys[i], ()):
                if len(s) == len(t) - 1 and i not in s and s <= t:
                    return [t - s]
    differences: list[frozenset[int]] = []
    latest: dict[int, int] = {}  # player -> index of the last visited coalition holding it
    for k, t in enumerate(coalitions):
        candidates = sorted(
            {latest[i] for i in t if i in latest}, key=lambda c: (-len(coalitions[c]), c)
        )
        budget = 2 * len(t)  # membership tests for t (the last may run over: at most 3|t|)
        for c in candidates:
            s = coalitions[c]
            if len(s) == len(t):  # visited earlier with t's size: distinct, so not a subset
                continue
            if budget <= 0:
                break
            inside = True
            for i in s:
                budget -= 1
                if i not in t:
                    inside = False
                    break
            if inside:
                differences.append(t - s)
                break
        for i in t:
            latest[i] = k
    return differences


def exposed_clients(released: Iterable[frozenset[int]], n_players: int) -> frozenset[int]:
    """Players whose individual update is a rational combination of the released sums.

    All of them for all singletons; {i} for {S, S + i}; none for the grand coalition alone
    (n > 1). See `leak_report` for groups.
    """
    return leak_report(released, n_players).exposed
