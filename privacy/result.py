"""What one secure-aggregation round returns: the aggregate, who is in it, and the accounting.

`SecAggResult` holds only what the round releases to the caller: the sum of the included
clients' clipped updates (exact up to quantisation) and public facts about the round (the
graph, who sent in each stage, bytes and seconds). It holds no key, share, seed or individual
input; what the released sum itself reveals is measured by `privacy.audit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypedDict

import networkx as nx

from privacy.types import ClientId, FloatVector, Stage, ThreatModel


class AccountingRow(TypedDict):
    """Bytes one client sent to and received from the server in one stage."""

    client: ClientId
    stage: Stage
    bytes_sent: int
    bytes_received: int


class StageRow(TypedDict):
    """Totals of one stage over all clients."""

    stage: Stage
    senders: int
    bytes_sent: int
    bytes_received: int
    seconds: float
    server_seconds: float


@dataclass(frozen=True, eq=False)
class SecAggResult:
    """The outcome of one round.

    Attributes:
        aggregate: sum over `included` of the clipped updates (shape of the updates), exact up to
            quantisation: every coordinate is within `max_error` of the true clipped sum.
        included: exactly the clients whose masked input reached the server.
        threshold: the Shamir threshold t.
        n_clients: all clients of the round.
        graph: the networkx neighbour graph used (complete for SecAgg, Harary for SecAgg+);
            the included clients are connected in it.
        survivors: per stage, the clients that sent their message of that stage.
        bytes_sent: stage -> client -> bytes the client sent to the server.
        bytes_received: stage -> client -> bytes the server sent to the client.
        seconds: stage -> wall-clock seconds of the simulation (clients and server).
        server_seconds: stage -> the server's part of `seconds`.
        clip: the clipping bound; bits: the ring is Z_2^bits.
        max_error: bound on |aggregate - sum of the included clipped updates| per coordinate.
        plain_bytes_per_client: what a client sends in plain (unprotected) aggregation: its
            update as given (size times itemsize), for overhead ratios.
        threat_model: "semi_honest" or "malicious"; `stages` lists the round's stages (the
            malicious model adds "consistency_check"), the keys of the per-stage tables.
    """

    aggregate: FloatVector
    included: frozenset[ClientId]
    threshold: int
    n_clients: int
    graph: nx.Graph
    survivors: Mapping[Stage, frozenset[ClientId]]
    bytes_sent: Mapping[Stage, Mapping[ClientId, int]]
    bytes_received: Mapping[Stage, Mapping[ClientId, int]]
    seconds: Mapping[Stage, float]
    server_seconds: Mapping[Stage, float]
    clip: float
    bits: int
    max_error: float
    plain_bytes_per_client: int
    threat_model: ThreatModel = "semi_honest"

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The round's stages in protocol order."""
        return tuple(self.bytes_sent)

    @property
    def neighbor_graph(self) -> nx.Graph:
        """Deprecated alias of `graph`."""
        return self.graph

    def accounting_rows(self) -> list[AccountingRow]:
        """One row per (client, stage): client, stage, bytes_sent, bytes_received."""
        clients = sorted(self.bytes_sent[self.stages[0]])
        return [
            {
                "client": u,
                "stage": s,
                "bytes_sent": self.bytes_sent[s][u],
                "bytes_received": self.bytes_received[s][u],
            }
            for u in clients
            for s in self.stages
        ]

    def stage_rows(self) -> list[StageRow]:
        """One row per stage: clients that sent, total bytes each way, seconds, server seconds."""
        return [
            {
                "stage": s,
                "senders": len(self.survivors[s]),
                "bytes_sent": sum(self.bytes_sent[s].values()),
                "bytes_received": sum(self.bytes_received[s].values()),
                "seconds": self.seconds[s],
                "server_seconds": self.server_seconds[s],
            }
            for s in self.stages
        ]


def freeze(
    table: Mapping[Stage, Mapping[ClientId, int]],
) -> Mapping[Stage, Mapping[ClientId, int]]:
    """A read-only copy of a stage -> client -> bytes table (for a `SecAggResult`)."""
    return MappingProxyType({s: MappingProxyType(dict(row)) for s, row in table.items()})
