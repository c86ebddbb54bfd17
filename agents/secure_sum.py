"""Secure-aggregation runs as the scenario sets them up: the ``[privacy]`` settings, one run
over a set of clients (:func:`secure_sum`), and the coalition sums scoring asks for
(:func:`coalition_aggregator`), each a real run of :func:`privacy.secure_aggregate`.

With differential privacy (:mod:`agents.dp`), each client adds its round's noise share in
the ring before masking, so every sum the server unmasks is noised, and each run's members
are recorded as a release.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

import privacy
from agents.dp import RoundNoise

SECAGG_STAGES = ("advertise_keys", "share_keys", "masked_input", "unmasking")
"""The stages at which a secure-aggregation client can drop out."""

CoalitionAggregate = Callable[[frozenset[int]], np.ndarray]
"""``coalition (positions among the included) -> aggregate delta``."""


@dataclass
class SecAggLedger:
    """What the secure-aggregation runs of one round cost and released."""

    runs: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    released: list[frozenset[int]] = field(default_factory=list)
    aborted: int = 0


@dataclass(frozen=True)
class SecureAggregation:
    """The scenario's ``[privacy]`` settings of every secure-aggregation run, under their
    scenario names, and the runs themselves.

    Attributes:
        threshold: the Shamir threshold as a share of the share holders (``privacy.threshold``).
        neighbors: the smallest SecAgg+ degree (0: the complete graph).
        clip, bits: quantisation (each coordinate clipped to ``[-clip, clip]``; ring 2**bits).
        dropout_rate: each client's chance to drop out of a run.
        threat_model: ``"semi_honest"`` or ``"malicious"`` (``privacy.secure_aggregate``).
        failure_probability: the abort bound SecAgg+'s degree is chosen for.
    """

    threshold: float
    neighbors: int
    clip: float
    bits: int
    dropout_rate: float
    threat_model: str = "semi_honest"
    failure_probability: float = 1e-6

    def run(
        self,
        updates: Mapping[int, np.ndarray],
        rng: np.random.Generator,
        dropouts: Mapping[str, Sequence[int]] | None = None,
        noise: RoundNoise | None = None,
    ) -> privacy.SecAggResult:
        """One secure-aggregation run of ``updates`` (keyed by pid; :func:`secure_sum`)."""
        shares = None if noise is None else {pid: noise.shares[pid] for pid in updates}
        return secure_sum(
            updates,
            self,
            rng=rng,
            dropouts=dropouts,
            shares=shares,
            share_std=0.0 if noise is None else noise.std,
        )

    def graph_parameters(self, n: int) -> tuple[int | None, int]:
        """The SecAgg+ degree (``None``: the complete graph) and Shamir threshold of a run
        over ``n >= 2`` clients (see :func:`secure_sum`)."""
        if self.neighbors <= 0 or self.neighbors >= n - 1:
            return None, privacy.threshold_of(self.threshold, n)
        chosen = privacy.secaggplus_parameters(
            n,
            dropout_rate=self.dropout_rate,
            failure_probability=self.failure_probability,
            threshold_share=self.threshold,
            min_neighbors=self.neighbors,
            threat_model=self.threat_model,
        )
        return chosen.neighbors, chosen.threshold


def secure_sum(
    updates: Mapping[int, np.ndarray],
    settings: SecureAggregation,
    *,
    rng: np.random.Generator,
    dropouts: Mapping[str, Sequence[int]] | None = None,
    shares: Mapping[int, np.ndarray] | None = None,
    share_std: float = 0.0,
) -> privacy.SecAggResult:
    """One secure-aggregation run with the scenario's graph and threshold rules (with
    ``shares``, each client adds its DP noise share, of std ``share_std``, before masking).

    ``settings.neighbors <= 0`` (or >= n - 1) asks for the complete graph, with t = max(2,
    ceil(threshold * n)). A positive ``neighbors`` is the smallest SecAgg+ degree the
    round may use: ``privacy.secaggplus_parameters`` raises it (up to the complete graph) until
    the abort bound for ``dropout_rate`` meets ``failure_probability``, with t = max(2,
    ceil(threshold * (k + 1))). Raises ``privacy.TooFewSurvivors`` for fewer than 2 clients
    and any ``privacy.SecAggAborted`` of the run.
    """
    n = len(updates)
    if n < 2:
        raise privacy.TooFewSurvivors("advertise_keys", n, 2)
    degree, threshold = settings.graph_parameters(n)
    return privacy.secure_aggregate(
        updates,
        threshold=threshold,
        neighbors=degree,
        dropouts={k: list(v) for k, v in (dropouts or {}).items()},
        clip=settings.clip,
        bits=settings.bits,
        rng=rng,
        threat_model=privacy.check_threat_model(settings.threat_model),
        noise=shares,
        noise_std=share_std,
    )


def coalition_aggregator(
    scaled: Sequence[np.ndarray],
    weights: Sequence[float],
    scale: float,
    settings: SecureAggregation,
    rng: np.random.Generator,
    ledger: SecAggLedger,
    *,
    noise: RoundNoise | None = None,
    pids: Sequence[int] = (),
) -> CoalitionAggregate:
    """``coalition -> FedAvg delta`` where each coalition sum is a real secure run.

    ``scaled[i]`` is player i's update already multiplied by ``weights[i] / scale`` (what the
    client feeds to secure aggregation), so the FedAvg of S is ``sum * scale / sum(weights)``.
    A coalition of one client cannot be securely aggregated (t >= 2): its update is released
    as is and recorded in ``ledger.released``, so the leak audit counts it as exposed. With
    ``noise``, player i (pid ``pids[i]``) adds its round's share to every run it is in, and
    a released update of one carries it too; each release is recorded in ``noise``.
    """
    shares = {} if noise is None else {i: noise.shares[pid] for i, pid in enumerate(pids)}
    std = 0.0 if noise is None else noise.std

    def aggregate(coalition: frozenset[int]) -> np.ndarray:
        members = sorted(coalition)
        if noise is not None and members:
            noise.release([pids[i] for i in members])
        if len(members) < 2:
            # secure aggregation needs t >= 2 clients: the "sum" of one client is its update,
            # released as such and counted by the leak audit (it exposes that client)
            ledger.released.append(frozenset(members))
            if not members:
                return np.zeros_like(np.asarray(scaled[0]), dtype=np.float32)
            alone = np.asarray(scaled[members[0]]) + shares.get(members[0], 0.0)
            return (alone * scale / weights[members[0]]).astype(np.float32)
        own = {i: shares[i] for i in members} if shares else None
        result = secure_sum(
            {i: scaled[i] for i in members}, settings, rng=rng, shares=own, share_std=std
        )
        ledger.runs += 1
        ledger.bytes_sent += int(sum(sum(v.values()) for v in result.bytes_sent.values()))
        ledger.seconds += float(sum(result.seconds.values()))
        ledger.released.append(frozenset(members))
        total_weight = sum(weights[i] for i in members)
        return (result.aggregate * scale / total_weight).astype(np.float32)

    return aggregate
