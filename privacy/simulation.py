"""`secure_aggregate`: one simulated SecAgg / SecAgg+ round with dropouts and accounting.

Bonawitz et al. (2017) on the complete graph, or SecAgg+ (Bell et al. 2020) on a random
Harary graph, against a semi-honest server (four stages) or a malicious one (signed keys and the
consistency-check round: five stages). Every key, share, ciphertext, signature and mask is really
computed by the client that owns it; the server object sees only the protocol messages
(`privacy.protocol`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, TypedDict, TypeVar, cast

import networkx as nx
import numpy as np
import numpy.typing as npt

from privacy import quantization, signatures
from privacy.accounting import Ledger
from privacy.client import SecAggClient
from privacy.config import SecAggConfig, check_threat_model
from privacy.errors import SecAggAborted
from privacy.graph import neighbor_graph
from privacy.messages import SurvivorSet, UnmaskRequest
from privacy.server import SecAggServer
from privacy.types import STAGES, ClientId, FloatVector, RingVector, Stage, ThreatModel

DEFAULT_CLIP = 1.0
"""Default clipping bound per coordinate. Per-round LoRA updates are far below 1 in magnitude,
so nothing is clipped; with bits=32 and n=1,000 clients the step is 4.7e-7."""


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


def run_round(
    server: SecAggServer,
    clients: Mapping[ClientId, SecAggClient],
    drop_stage: Mapping[ClientId, Stage],
    ledger: Ledger,
) -> tuple[RingVector, dict[Stage, frozenset[ClientId]]]:
    """Route one round's messages between `clients` and `server`.

    A client with `drop_stage[u] = s` sends nothing from stage s on. Returns the server's ring
    sum and the senders of each stage; raises `SecAggAborted` when the server must abort.
    """
    stages = server.config.stages
    last = {u: stages.index(drop_stage[u]) if u in drop_stage else len(stages) for u in clients}
    senders: dict[Stage, frozenset[ClientId]] = {}

    def exchange(
        stage: Stage,
        previous: Collection[ClientId],
        send: Callable[[ClientId], _SentT],
        serve: Callable[[list[_SentT]], _AnswerT],
    ) -> _AnswerT:
        """One stage: the still active clients of `previous` send, then the server answers;
        both parts are timed and what the clients sent is booked."""
        index = stages.index(stage)
        with ledger.timed(stage):
            chosen = [u for u in sorted(previous) if last[u] > index]
            senders[stage] = frozenset(chosen)
            sent = [send(u) for u in chosen]
        with ledger.timed(stage, server=True):
            answer = serve(sent)
        for message in sent:
            ledger.sent(stage, message.sender, message.wire_size())
        return answer

    rosters = exchange(
        "advertise_keys", clients, lambda u: clients[u].advertise_keys(), server.advertise_keys
    )
    _book_replies(ledger, "advertise_keys", rosters)
    inboxes = exchange(
        "share_keys", rosters, lambda u: clients[u].share_keys(rosters[u]), server.share_keys
    )
    _book_replies(ledger, "share_keys", inboxes)
    replies = exchange(
        "masked_input", inboxes, lambda u: clients[u].masked_input(inboxes[u]), server.masked_input
    )
    _book_replies(ledger, "masked_input", replies)
    if server.config.malicious:
        announced = cast("dict[ClientId, SurvivorSet]", replies)
        requests = exchange(
            "consistency_check",
            announced,
            lambda u: clients[u].consistency_check(announced[u]),
            server.consistency_check,
        )
        _book_replies(ledger, "consistency_check", requests)
    else:
        requests = cast("dict[ClientId, UnmaskRequest]", replies)
    total = exchange(
        "unmasking", requests, lambda u: clients[u].unmasking(requests[u]), server.unmasking
    )
    return total, senders


def _book_replies(ledger: Ledger, stage: Stage, replies: Mapping[ClientId, _Reply]) -> None:
    for client, reply in replies.items():
        ledger.received(stage, client, reply.wire_size())


class _Reply(Protocol):
    def wire_size(self) -> int: ...


class _Message(_Reply, Protocol):
    @property
    def sender(self) -> ClientId: ...


_SentT = TypeVar("_SentT", bound=_Message)
_AnswerT = TypeVar("_AnswerT")


def secure_aggregate(
    updates: Mapping[int, npt.ArrayLike],
    *,
    threshold: int,
    neighbors: int | None = None,
    dropouts: Mapping[str, Collection[int]] | None = None,
    clip: float = DEFAULT_CLIP,
    bits: int = 32,
    rng: np.random.Generator | None = None,
    threat_model: ThreatModel = "semi_honest",
) -> SecAggResult:
    """Securely sum `updates` (Bonawitz et al. 2017; SecAgg+ of Bell et al. 2020).

    Args:
        updates: client id (any non-negative int) -> update (any real array; all of one
            shape). Each coordinate is clipped to [-clip, clip] and quantised to Z_2^bits.
        threshold: Shamir threshold t, 2 <= t <= n with the complete graph, 2 <= t <= k + 1
            with SecAgg+ (t = 1 is refused: any one holder would hold a secret).
            `privacy.parameters.secaggplus_parameters` picks k and t for a dropout rate.
        neighbors: None for SecAgg (complete graph), else the degree k (1..n-1) of the SecAgg+
            Harary graph.
        dropouts: stage name -> clients that send nothing from that stage on; a client listed
            under several stages drops at the earliest one.
        clip: the per-coordinate clipping bound (> 0); default `DEFAULT_CLIP` = 1.0.
        bits: ring size; 2^(bits-1) - 1 must be >= n so that any subset sum decodes.
        rng: draws the graph's node permutation (None: OS entropy). Keys, seeds, Shamir
            coefficients, nonces, signing keys and the session id always come from the OS
            CSPRNG; the aggregate and everything else in the result but the timings depend
            only on the updates, the graph and who drops when, never on that randomness. The
            threat model does not change what is drawn from `rng`.
        threat_model: "semi_honest" (default: the server follows the protocol) or "malicious"
            (the server may deviate: Ed25519-signed keys under a PKI set up before the round,
            and the consistency-check round of Bonawitz et al. 2017, Sec. 4.2; a round then
            also needs a strict majority of each client's share holders through the
            consistency check; "consistency_check" is a valid dropout stage).

    Returns:
        The aggregate of exactly the clients whose masked input arrived (at least t >= 2 of
        them, connected in the graph), and the accounting.

    Raises:
        SecAggAborted: a subclass naming the reason (`reason`, with the round's `graph`
            attached): `TooFewSurvivors` (a stage or a needed secret kept fewer than t, or
            than the malicious model's quorum), `DisconnectedSurvivors` (the included clients
            are not connected in the graph), `InvalidShare`, `ServerMisbehaved` (a client's
            check; subclasses name the attack detected).
        ValueError: bad updates, threshold, neighbors, dropouts, clip, bits or threat_model.
    """
    check_threat_model(threat_model)
    prepared = build_round(
        updates,
        threshold=threshold,
        neighbors=neighbors,
        clip=clip,
        bits=bits,
        rng=rng,
        threat_model=threat_model,
    )
    ids = sorted(prepared.clients)
    n = len(ids)
    graph, config, clients = prepared.graph, prepared.config, prepared.clients
    drop_stage = _check_dropouts(dropouts, ids, config.stages)
    server = SecAggServer(config)
    ledger = Ledger(ids, config.stages)
    try:
        total, senders = run_round(server, clients, drop_stage, ledger)
    except SecAggAborted as error:
        error.graph = graph
        raise
    included = server.included
    aggregate = quantization.dequantize(total, clip=clip, bits=bits, n_summands=n)
    aggregate = aggregate.reshape(prepared.shape)
    return SecAggResult(
        aggregate=aggregate,
        included=included,
        threshold=threshold,
        n_clients=n,
        graph=graph,
        survivors=MappingProxyType(senders),
        bytes_sent=_freeze(ledger.bytes_sent),
        bytes_received=_freeze(ledger.bytes_received),
        seconds=MappingProxyType(dict(ledger.seconds)),
        server_seconds=MappingProxyType(dict(ledger.server_seconds)),
        clip=clip,
        bits=bits,
        max_error=quantization.max_error(clip=clip, bits=bits, n_summands=n, m=len(included)),
        plain_bytes_per_client=prepared.plain_bytes_per_client,
        threat_model=threat_model,
    )


@dataclass(frozen=True, eq=False)
class PreparedRound:
    """The parties of a round before it starts (see `build_round`)."""

    graph: nx.Graph
    config: SecAggConfig
    clients: Mapping[ClientId, SecAggClient]
    shape: tuple[int, ...]
    plain_bytes_per_client: int


def build_round(
    updates: Mapping[int, npt.ArrayLike],
    *,
    threshold: int,
    neighbors: int | None = None,
    clip: float = DEFAULT_CLIP,
    bits: int = 32,
    rng: np.random.Generator | None = None,
    threat_model: ThreatModel = "semi_honest",
) -> PreparedRound:
    """Validate the arguments of `secure_aggregate` and create the graph, config and clients.

    Pair it with `SecAggServer(config, record_view=True)` and `run_round` to inspect the
    server's view. Randomness is drawn exactly as documented in `secure_aggregate`. In the
    malicious model the PKI (a fresh Ed25519 key per client, from the OS) is set up here,
    before any server exists: the trusted setup the model assumes.
    """
    check_threat_model(threat_model)
    ids, vectors, shape, plain_bytes = _check_updates(updates)
    n = len(ids)
    _check_threshold(threshold, n, neighbors)
    quantization.step(clip=clip, bits=bits, n_summands=n)
    graph = neighbor_graph(ids, neighbors, rng)
    signing_keys, pki = signatures.trusted_setup(ids) if threat_model == "malicious" else ({}, {})
    config = SecAggConfig(
        threshold=threshold,
        bits=bits,
        clip=clip,
        length=vectors[ids[0]].size,
        neighbors={u: frozenset(graph[u]) for u in ids},
        threat_model=threat_model,
        verification_keys=pki,
    )
    clients = {u: SecAggClient(u, vectors[u], config, signing_key=signing_keys.get(u)) for u in ids}
    return PreparedRound(graph, config, clients, shape, plain_bytes)


def _freeze(
    table: Mapping[Stage, Mapping[ClientId, int]],
) -> Mapping[Stage, Mapping[ClientId, int]]:
    return MappingProxyType({s: MappingProxyType(dict(row)) for s, row in table.items()})


def _check_updates(
    updates: Mapping[int, npt.ArrayLike],
) -> tuple[list[ClientId], dict[ClientId, npt.NDArray[np.generic]], tuple[int, ...], int]:
    if not isinstance(updates, Mapping) or not updates:
        raise ValueError("updates: pass a non-empty mapping of client id -> array")
    vectors: dict[ClientId, npt.NDArray[np.generic]] = {}
    for key, value in updates.items():
        if isinstance(key, bool) or not isinstance(key, int | np.integer) or key < 0:
            raise ValueError(f"updates: client ids must be non-negative ints, got {key!r}")
        if key >= 1 << 64:
            raise ValueError(
                f"updates: client ids must be below 2^64 (8 bytes on the wire), got {key}"
            )
        array = np.asarray(value)
        if array.dtype.kind not in "iuf":
            raise ValueError(f"updates[{key}]: must be a real numeric array, got {array.dtype}")
        if array.dtype.kind == "f" and np.isnan(array).any():
            raise ValueError(f"updates[{key}]: contains NaN; pass finite values")
        vectors[int(key)] = array
    ids = sorted(vectors)
    shape = vectors[ids[0]].shape
    if math.prod(shape) < 1:
        raise ValueError("updates: arrays need at least one coordinate")
    for u in ids:
        if vectors[u].shape != shape:
            raise ValueError(f"updates[{u}]: shape {vectors[u].shape} differs from {shape}")
    return ids, vectors, shape, int(vectors[ids[0]].nbytes)


def _check_threshold(threshold: int, n: int, neighbors: int | None) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer):
        raise ValueError(f"threshold: must be an int, got {threshold!r}")
    if n < 2:
        raise ValueError("updates: secure aggregation needs >= 2 clients (the sum of one is it)")
    if neighbors is None:
        if not 2 <= threshold <= n:
            raise ValueError(
                f"threshold: must be in 2..n={n} with the complete graph, got {threshold}"
            )
        return
    if isinstance(neighbors, bool) or not isinstance(neighbors, int | np.integer):
        raise ValueError(f"neighbors: must be an int or None, got {neighbors!r}")
    if not 1 <= neighbors <= n - 1:
        raise ValueError(
            f"neighbors: must be in 1..{n - 1} for {n} clients; use None for the complete graph"
        )
    if not 2 <= threshold <= neighbors + 1:
        raise ValueError(
            f"threshold: must be in 2..neighbors+1={neighbors + 1} with SecAgg+, got {threshold}"
        )


def _check_dropouts(
    dropouts: Mapping[str, Collection[int]] | None,
    ids: list[ClientId],
    stages: tuple[Stage, ...] = STAGES,
) -> dict[ClientId, Stage]:
    drop_stage: dict[ClientId, Stage] = {}
    if dropouts is None:
        return drop_stage
    known = set(ids)
    for name in dropouts:
        if name not in stages:
            raise ValueError(f"dropouts: unknown stage {name!r}; use one of {', '.join(stages)}")
    for stage in stages:
        for u in dropouts.get(stage, ()):
            if u not in known:
                raise ValueError(f"dropouts[{stage!r}]: client {u!r} is not in updates")
            drop_stage.setdefault(int(u), stage)
    return drop_stage
