"""`secure_aggregate`: one simulated SecAgg / SecAgg+ round with dropouts and accounting.

Bonawitz et al. (2017) on the complete graph, or SecAgg+ (Bell et al. 2020) on a random
Harary graph, against a semi-honest server (four stages) or a malicious one (signed keys and the
consistency-check round: five stages). Every key, share, ciphertext, signature and mask is really
computed by the client that owns it; the server object sees only the protocol messages
(`privacy.protocol`).

The round is put together from `privacy.preparation` (arguments checked, graph, config and
clients created), `privacy.routing` (messages carried and booked) and `privacy.result` (what the
round returns); their public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from privacy import quantization
from privacy.accounting import Ledger
from privacy.config import check_threat_model
from privacy.errors import SecAggAborted
from privacy.preparation import DEFAULT_CLIP, PreparedRound, build_round, check_dropouts
from privacy.result import AccountingRow, SecAggResult, StageRow, freeze
from privacy.routing import run_round
from privacy.server import SecAggServer
from privacy.types import ThreatModel

__all__ = [
    "DEFAULT_CLIP",
    "AccountingRow",
    "PreparedRound",
    "SecAggResult",
    "StageRow",
    "build_round",
    "run_round",
    "secure_aggregate",
]


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
    noise: Mapping[int, npt.ArrayLike] | None = None,
    noise_std: float = 0.0,
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
        noise: client id -> its differential-privacy noise share (:mod:`privacy.dp`), which
            the client adds in the ring before masking: the aggregate is then the noised sum
            of the included clients, and no message or unmasked value is free of noise.
        noise_std: the shares' declared standard deviation; the quantiser leaves room for 8
            standard deviations of their sum (required with ``noise``).

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
        noise=noise,
        noise_std=noise_std,
    )
    ids = sorted(prepared.clients)
    n = len(ids)
    graph, config, clients = prepared.graph, prepared.config, prepared.clients
    drop_stage = check_dropouts(dropouts, ids, config.stages)
    server = SecAggServer(config)
    ledger = Ledger(ids, config.stages)
    try:
        total, senders = run_round(server, clients, drop_stage, ledger)
    except SecAggAborted as error:
        error.graph = graph
        raise
    included = server.included
    summands = config.n_summands
    aggregate = quantization.dequantize(total, clip=clip, bits=bits, n_summands=summands)
    aggregate = aggregate.reshape(prepared.shape)
    return SecAggResult(
        aggregate=aggregate,
        included=included,
        threshold=threshold,
        n_clients=n,
        graph=graph,
        survivors=MappingProxyType(senders),
        bytes_sent=freeze(ledger.bytes_sent),
        bytes_received=freeze(ledger.bytes_received),
        seconds=MappingProxyType(dict(ledger.seconds)),
        server_seconds=MappingProxyType(dict(ledger.server_seconds)),
        clip=clip,
        bits=bits,
        max_error=quantization.max_error(
            clip=clip, bits=bits, n_summands=summands, m=len(included)
        ),
        plain_bytes_per_client=prepared.plain_bytes_per_client,
        threat_model=threat_model,
    )
