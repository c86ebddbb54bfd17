"""Shared by the secure-aggregation tests (here and in ``tests/reliability``): the abort rule
restated independently of ``privacy.protocol``, generated rounds, and a round whose first two
stages an honest server runs while the test plays the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from privacy import MALICIOUS_STAGES, STAGES, SecAggResult, secure_aggregate
from privacy.messages import ShareInbox
from privacy.protocol import SecAggServer
from privacy.simulation import PreparedRound, build_round
from privacy.types import ThreatModel


def required_outcome(
    graph: nx.Graph, threshold: int, missed: Mapping[int, str], *, malicious: bool = False
) -> tuple[str, frozenset[int]]:
    """Why an honest round must abort ("" if it must not), and whom it sums if it does not.

    Bonawitz et al. (2017), stated without ``privacy.protocol``: ``missed[u]`` is the first
    stage whose message from u does not arrive in time (absent: none); U_k are the clients whose
    message of the k-th stage arrives. The server aborts when some U_k has fewer than t
    clients, when a client of U1..U3 keeps fewer than q(u) of its holders {u} + N(u) there,
    when U3 is not connected in the graph (Bell et al. 2020: unmasking would release each
    component's sum), or when a secret it needs (b_u of each u in U3, s_u^SK of each u in
    U2 - U3 with a neighbour in U3) has fewer than t holders among the clients that reveal.
    Otherwise the sum is over exactly U3. Semi-honest: q(u) = t. Malicious (Sec. 4.2): q(u) =
    max(t, |holders(u)| // 2 + 1), and each client of U3, each needed mask key's owner and
    each neighbour of such an owner also needs q(u) holders among the signers of U3.
    """
    stages = MALICIOUS_STAGES if malicious else STAGES
    order = {s: k for k, s in enumerate(stages)}
    clients = set(graph.nodes)
    alive = [
        {u for u in clients if order.get(missed.get(u, ""), len(stages)) > k}
        for k in range(len(stages))
    ]
    holders = {u: {u, *graph[u]} for u in clients}
    quorum = {
        u: max(threshold, len(holders[u]) // 2 + 1) if malicious else threshold for u in clients
    }
    if any(len(a) < threshold for a in alive):
        return "fewer than t clients in a stage", frozenset()
    for a in alive[:3]:  # every client in the round keeps q(u) holders in the round
        if any(len(holders[u] & a) < quorum[u] for u in a):
            return "too few holders alive", frozenset()
    u2, u3 = alive[1], alive[2]
    if not nx.is_connected(graph.subgraph(u3)):  # unmasking would release component sums
        return "U3 not connected", frozenset()
    key_owners = {u for u in u2 - u3 if set(graph[u]) & u3}
    if malicious:
        checked = u3 | key_owners | {w for u in key_owners for w in graph[u]}
        if any(len(holders[u] & alive[3]) < quorum[u] for u in checked):
            return "too few holders signed U3", frozenset()
    if any(len(holders[u] & alive[-1]) < threshold for u in u3 | key_owners):
        return "too few holders revealed", frozenset()
    return "", frozenset(u3)


@dataclass(frozen=True)
class RoundCase:
    """One generated semi-honest round; ``fates[u]`` is ``"drop:STAGE"`` (sends nothing from
    that stage on) or ``"late:STAGE"`` (misses that stage's deadline); absent: on time."""

    ids: list[int]
    neighbors: int | None
    threshold: int
    fates: dict[int, str]
    length: int
    bits: int
    clip: float
    seed: int

    @property
    def missed(self) -> dict[int, str]:
        """Each client's first missed stage (the argument of `required_outcome`)."""
        return {u: fate.split(":")[1] for u, fate in self.fates.items()}

    def stops(self, client: int) -> int:
        """Index of the first stage this client misses (4: it misses none)."""
        return STAGES.index(self.missed[client]) if client in self.fates else 4

    def updates(self) -> dict[int, np.ndarray]:
        """Seeded updates up to twice the clipping bound (so clipping matters)."""
        rng = np.random.default_rng(self.seed)
        return {u: rng.uniform(-2 * self.clip, 2 * self.clip, size=self.length) for u in self.ids}

    def prepare(self, updates: Mapping[int, npt.ArrayLike]) -> PreparedRound:
        """The parties of this round (graph, config, clients), as `secure_aggregate` builds them."""
        return build_round(
            updates,
            threshold=self.threshold,
            neighbors=self.neighbors,
            clip=self.clip,
            bits=self.bits,
            rng=np.random.default_rng(self.seed),
        )

    def aggregate(self, updates: Mapping[int, npt.ArrayLike]) -> SecAggResult:
        """`secure_aggregate` with this round's dropouts (the ``drop:`` fates)."""
        dropouts = {s: [u for u, f in self.fates.items() if f == f"drop:{s}"] for s in STAGES}
        return secure_aggregate(
            updates,
            threshold=self.threshold,
            neighbors=self.neighbors,
            dropouts=dropouts,
            clip=self.clip,
            bits=self.bits,
            rng=np.random.default_rng(self.seed),
        )


@st.composite
def round_cases(
    draw: st.DrawFn,
    *,
    sizes: tuple[int, int],
    max_id: int,
    rates: Sequence[float],
    kinds: Sequence[str] = ("drop",),
) -> RoundCase:
    """Random clients, threshold, SecAgg or SecAgg+ graph, ring size, clipping bound and, per
    client, a fate of one of ``kinds`` with probability drawn from ``rates``."""
    n = draw(st.integers(*sizes))
    ids = sorted(draw(st.sets(st.integers(0, max_id), min_size=n, max_size=n)))
    sparse = n >= 3 and draw(st.booleans())
    neighbors = draw(st.integers(1, n - 1)) if sparse else None
    threshold = draw(st.integers(2, neighbors + 1 if neighbors is not None else n))
    rate = draw(st.sampled_from(rates))
    fates = {}
    for u in ids:
        if draw(st.floats(0, 1)) < rate:
            kind = draw(st.sampled_from(kinds))
            fates[u] = f"{kind}:{draw(st.sampled_from(STAGES))}"
    return RoundCase(
        ids=ids,
        neighbors=neighbors,
        threshold=threshold,
        fates=fates,
        length=draw(st.integers(1, 6)),
        bits=draw(st.sampled_from([8, 16, 32, 64])),
        clip=draw(st.sampled_from([0.25, 1.0, 3.0])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def uniform_updates(n: int, seed: int) -> dict[int, np.ndarray]:
    """Updates of clients 0..n-1, six coordinates each, inside the default clipping bound."""
    rng = np.random.default_rng(seed)
    return {u: rng.uniform(-0.5, 0.5, size=6) for u in range(n)}


def through_share_keys(
    updates: Mapping[int, npt.ArrayLike],
    *,
    threshold: int,
    seed: int,
    neighbors: int | None = None,
    threat_model: ThreatModel = "semi_honest",
) -> tuple[PreparedRound, SecAggServer, dict[int, ShareInbox]]:
    """An honest server runs advertise_keys and share_keys with every client; the test plays
    the rest with the clients (``prepared.clients``), their inboxes and that server."""
    prepared = build_round(
        updates,
        threshold=threshold,
        neighbors=neighbors,
        rng=np.random.default_rng(seed),
        threat_model=threat_model,
    )
    server, clients = SecAggServer(prepared.config), prepared.clients
    rosters = server.advertise_keys([c.advertise_keys() for c in clients.values()])
    inboxes = server.share_keys([clients[u].share_keys(rosters[u]) for u in clients])
    return prepared, server, inboxes
