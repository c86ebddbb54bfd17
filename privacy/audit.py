"""Leak audit: which clients, and which groups of clients, released coalition sums give away.

Secure aggregation hides individual updates inside one sum, but contribution scoring releases
the aggregates of many coalitions. Each release is a linear equation in the clients' (weighted)
updates (with FedAvg, n_{S+i} w_{S+i} - n_S w_S = n_i w_i when the weights are public). The
sum over a group G is determined exactly when its indicator 1_G lies in the rational row space
of the released coalitions' 0/1 incidence matrix (tested exactly by `privacy.rank`).

Clients that appear in exactly the same released coalitions form an *atom*; every vector of
the row space is constant on atoms, so every determined group is a union of atoms, and an atom
is determined iff its unit vector is in the row space of the atom-by-coalition matrix.
`leak_report` gives the exposed clients (determined singletons), a smallest determined group
it can certify, and a proven lower bound on the size of any determined group. The exact
minimum is a minimum-weight problem over a subspace with no known fast algorithm in general;
the bound and the witness agree in the usual cases (one coalition, leave-one-out, nested
permutation prefixes, any release that exposes someone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from privacy.rank import released_coalitions, unit_vectors_in_row_space


@dataclass(frozen=True)
class LeakReport:
    """What the released coalition sums of one round determine.

    Attributes:
        exposed: clients whose individual update is determined.
        smallest_group: a smallest determined group the audit certifies (empty: nothing released).
        smallest_group_at_least: no determined group has fewer clients (0: nothing released).
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
    columns: dict[tuple[int, ...], list[int]] = {}
    for i in sorted(set().union(*coalitions)):
        columns.setdefault(tuple(k for k, c in enumerate(coalitions) if i in c), []).append(i)
    atoms = [frozenset(members) for members in columns.values()]
    members_of: list[set[int]] = [set() for _ in coalitions]
    for a, key in enumerate(columns):
        for k in key:
            members_of[k].add(a)
    by_atom = [frozenset(m) for m in members_of]
    determined = [atoms[a] for a in sorted(unit_vectors_in_row_space(by_atom, len(atoms)))]
    exposed = frozenset(i for atom in determined if len(atom) == 1 for i in atom)
    # witnesses: determined atoms, released coalitions, differences of nested releases
    witnesses = [*determined, *coalitions]
    witnesses += [t - s for s in coalitions for t in coalitions if s < t]
    smallest = min(witnesses, key=lambda g: (len(g), sorted(g)))
    # proof: a determined group is one determined atom or a union of at least two atoms
    sizes = sorted(len(a) for a in atoms)
    bound = min(
        [len(a) for a in determined] + [sizes[0] + sizes[1] if len(sizes) > 1 else len(smallest)]
    )
    return LeakReport(exposed, smallest, min(bound, len(smallest)))


def exposed_clients(released: Iterable[frozenset[int]], n_players: int) -> frozenset[int]:
    """Players whose individual update is a rational combination of the released sums.

    All of them for all singletons; {i} for {S, S + i}; none for the grand coalition alone
    (n > 1). See `leak_report` for groups.
    """
    return leak_report(released, n_players).exposed
