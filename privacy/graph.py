"""The neighbour graph: who masks with whom and who holds whose shares.

SecAgg (Bonawitz et al. 2017) uses the complete graph. SecAgg+ (Bell et al. 2020) replaces it
with a sparse graph of degree k = O(log n): a Harary graph H_{k,n} (k-connected with the fewest
edges: every node of degree k, one node of degree k + 1 when k and n are both odd, and a path
for k = 1) whose nodes are randomly permuted.
Client u masks with its neighbours N(u) and Shamir-shares its secrets among
holders(u) = {u} + N(u).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import networkx as nx
import numpy as np

from privacy.types import ClientId


def secaggplus_degree(n_clients: int) -> int:
    """k = ceil(log2 n), clamped to 1..n-1: the SecAgg+ degree used in bench/secagg.py."""
    if n_clients < 2:
        raise ValueError(f"n_clients: a sparse graph needs >= 2 clients, got {n_clients}")
    return min(max(1, math.ceil(math.log2(n_clients))), n_clients - 1)


def neighbor_graph(
    clients: Sequence[ClientId], neighbors: int | None, rng: np.random.Generator | None = None
) -> nx.Graph:
    """The complete graph on `clients` (neighbors=None) or a randomly labelled Harary graph.

    Args:
        clients: distinct client ids.
        neighbors: None for SecAgg, else the degree k in 1..n-1 for SecAgg+.
        rng: draws the node permutation (a simulation choice: the graph is public); None uses
            fresh OS entropy.
    """
    ids = list(clients)
    if len(set(ids)) != len(ids):
        raise ValueError("clients: ids must be distinct")
    if neighbors is None:
        graph = nx.complete_graph(ids)
        return graph
    n = len(ids)
    if not 1 <= neighbors <= n - 1:
        raise ValueError(
            f"neighbors: must be in 1..n-1={n - 1} for {n} clients; use None for the complete graph"
        )
    generator = np.random.default_rng() if rng is None else rng
    order = generator.permutation(n)
    harary = nx.hkn_harary_graph(neighbors, n)
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    graph.add_edges_from((ids[int(order[u])], ids[int(order[v])]) for u, v in harary.edges())
    return graph


def components(
    adjacency: Mapping[ClientId, Collection[ClientId]], nodes: Collection[ClientId]
) -> list[list[ClientId]]:
    """Connected components of the graph restricted to `nodes`, each sorted, largest first."""
    remaining = set(nodes)
    found: list[list[ClientId]] = []
    while remaining:
        start = min(remaining)
        remaining.discard(start)
        stack, component = [start], [start]
        while stack:
            for v in adjacency[stack.pop()]:
                if v in remaining:
                    remaining.discard(v)
                    stack.append(v)
                    component.append(v)
        found.append(sorted(component))
    return sorted(found, key=lambda c: (-len(c), c[0]))
