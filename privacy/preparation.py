"""`build_round`: check a round's arguments and create its parties before any message is sent.

The graph, the public `SecAggConfig` and one `SecAggClient` per update; the server is created
by the caller (`privacy.simulation.secure_aggregate`, or a test that plays a deviating one).
Threat model: in the malicious model the PKI (a fresh Ed25519 key per client, from the OS
CSPRNG) is set up here, before any server exists: the trusted setup that model assumes. Only
the graph's node permutation follows the caller's numpy Generator (the graph is public); keys,
seeds, Shamir coefficients, nonces and the session id are drawn later by their owners, from
the OS CSPRNG.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import networkx as nx
import numpy as np
import numpy.typing as npt

from privacy import quantization, signatures
from privacy.client import SecAggClient
from privacy.config import SecAggConfig, check_threat_model
from privacy.graph import neighbor_graph
from privacy.types import STAGES, ClientId, Stage, ThreatModel

DEFAULT_CLIP = 1.0
"""Default clipping bound per coordinate. Per-round LoRA updates are far below 1 in magnitude,
so nothing is clipped; with bits=32 and n=1,000 clients the step is 4.7e-7."""


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
    noise: Mapping[int, npt.ArrayLike] | None = None,
    noise_std: float = 0.0,
) -> PreparedRound:
    """Validate the arguments of `secure_aggregate` and create the graph, config and clients.

    Pair it with `SecAggServer(config, record_view=True)` and `run_round` to inspect the
    server's view. Randomness is drawn exactly as documented in `secure_aggregate`. In the
    malicious model the PKI (a fresh Ed25519 key per client, from the OS) is set up here,
    before any server exists: the trusted setup the model assumes.
    """
    check_threat_model(threat_model)
    ids, vectors, shape, plain_bytes = check_updates(updates)
    n = len(ids)
    check_threshold(threshold, n, neighbors)
    headroom = noise_headroom(noise, ids, noise_std, clip)
    quantization.step(clip=clip, bits=bits, n_summands=n + headroom)
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
        noise_headroom=headroom,
    )
    shares = noise or {}
    clients = {
        u: SecAggClient(u, vectors[u], config, signing_key=signing_keys.get(u), noise=shares.get(u))
        for u in ids
    }
    return PreparedRound(graph, config, clients, shape, plain_bytes)


NOISE_TAIL = 8.0
"""Standard deviations of the summed noise the quantiser leaves room for (a coordinate wraps
with probability below 1e-15)."""


def noise_headroom(
    noise: Mapping[int, npt.ArrayLike] | None, ids: list[ClientId], noise_std: float, clip: float
) -> int:
    """Extra summands that hold ``NOISE_TAIL`` standard deviations of the summed noise shares
    (0 without noise); every client must then have a share of the declared ``noise_std``."""
    if noise is None:
        return 0
    if set(noise) != set(ids):
        raise ValueError("noise: give one noise share per client, keyed like updates")
    if not (math.isfinite(noise_std) and noise_std > 0):
        raise ValueError(f"noise_std: must be a finite number > 0 with noise, got {noise_std}")
    return math.ceil(NOISE_TAIL * noise_std * math.sqrt(len(ids)) / clip)


def check_updates(
    updates: Mapping[int, npt.ArrayLike],
) -> tuple[list[ClientId], dict[ClientId, npt.NDArray[np.generic]], tuple[int, ...], int]:
    """The sorted ids, the arrays, their common shape and one array's bytes; or a ValueError."""
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


def check_threshold(threshold: int, n: int, neighbors: int | None) -> None:
    """A ValueError unless 2 <= t <= n (complete graph) or 2 <= t <= k + 1 (SecAgg+)."""
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


def check_dropouts(
    dropouts: Mapping[str, Collection[int]] | None,
    ids: list[ClientId],
    stages: tuple[Stage, ...] = STAGES,
) -> dict[ClientId, Stage]:
    """Client -> the earliest stage it drops at; a ValueError for unknown stages or clients."""
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
