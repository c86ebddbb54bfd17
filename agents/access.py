"""The privacy access mode: how the round's updates are summed and how scoring reaches
coalition utilities, as three typed strategies behind one :class:`Access` interface.

Shapley-style scoring needs the model of many coalitions, but secure aggregation exists so
that the server never sees an individual update. No framework resolves this; fedmarket
makes the choice explicit and reports what each choice gives away (:meth:`Access.leak`):

* :class:`Plaintext` (``plaintext``): the server reads every update. Everyone included is
  exposed.
* :class:`SecureCoalitions` (``secure_coalitions``): each coalition aggregate that scoring
  asks for is the output of a real secure-aggregation run over exactly that subset. The
  server sees only sums, but sums of overlapping coalitions can be differenced:
  ``privacy.leak_report`` says who is exposed by the released coalitions (e.g. ``{S, S + i}``
  exposes ``i``).
* :class:`TrustedEvaluator` (``trusted_evaluator``): coalition utilities are computed by a
  *trusted party* (e.g. a TEE enclave) that holds every plaintext update; only scalar
  utilities leave it, so the server learns just the round's sum. This is trust, not
  cryptography: whoever runs or breaks the evaluator sees every update, and the utilities
  themselves (and the payments computed from them) leak information the audit does not
  count. SecSV (Zheng et al. 2022) does this with secure computation instead; fedmarket does
  not.

The round's sum runs secure aggregation whenever the scenario turns it on
(:class:`SecureAggregation`; Bonawitz et al. 2017, SecAgg+ of Bell et al. 2020): the Shamir
threshold and the SecAgg+ degree come from ``privacy.secaggplus_parameters`` for the round's
number of clients and dropout rate; t >= 2 always, and a round with fewer than two clients
aborts (the sum of one client is its update).

Threat model: see :mod:`agents.update_store` (who may read an individual update) and
``privacy`` (what the protocol hides from a semi-honest or malicious server).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

import privacy
from agents.reports import AggregationReport
from agents.update_store import DECLARED_READER, UpdateStore
from fl_core.aggregation import Aggregator

if TYPE_CHECKING:
    from agents.participants import ParticipantAgent

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
    ) -> privacy.SecAggResult:
        """One secure-aggregation run of ``updates`` (:func:`secure_sum`)."""
        return secure_sum(updates, self, rng=rng, dropouts=dropouts)


def secure_sum(
    updates: Mapping[int, np.ndarray],
    settings: SecureAggregation,
    *,
    rng: np.random.Generator,
    dropouts: Mapping[str, Sequence[int]] | None = None,
) -> privacy.SecAggResult:
    """One secure-aggregation run with the scenario's graph and threshold rules.

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
    if settings.neighbors <= 0 or settings.neighbors >= n - 1:
        degree = None
        threshold = privacy.threshold_of(settings.threshold, n)
    else:
        chosen = privacy.secaggplus_parameters(
            n,
            dropout_rate=settings.dropout_rate,
            failure_probability=settings.failure_probability,
            threshold_share=settings.threshold,
            min_neighbors=settings.neighbors,
            threat_model=settings.threat_model,
        )
        degree, threshold = chosen.neighbors, chosen.threshold
    return privacy.secure_aggregate(
        updates,
        threshold=threshold,
        neighbors=degree,
        dropouts={k: list(v) for k, v in (dropouts or {}).items()},
        clip=settings.clip,
        bits=settings.bits,
        rng=rng,
        threat_model=privacy.check_threat_model(settings.threat_model),
    )


def _scaled_inputs(
    pids: Sequence[int], weights: Sequence[float], store: UpdateStore
) -> tuple[list[np.ndarray], float]:
    """What each client feeds secure aggregation: its update times ``weight / max weight``
    (so the FedAvg of S is ``sum * scale / sum(weights)``), and that scale."""
    inputs = store.secure_inputs(pids)
    scale = max(weights)
    scaled = [
        np.asarray(inputs[pid], dtype=np.float64) * (w / scale)
        for pid, w in zip(pids, weights, strict=True)
    ]
    return scaled, scale


class Access(ABC):
    """How one round's updates reach the server and the scorer (one of the three modes).

    Args:
        secure: the secure-aggregation settings (``None``: updates travel in the clear).
        aggregator: the server's rule for plaintext updates, ``(deltas, weights) -> delta``.
        fedavg: whether that rule is FedAvg (coalition utilities then aggregate themselves).
    """

    name: ClassVar[str]
    reader: ClassVar[str | None]
    """Who may read an individual update (:mod:`agents.update_store`; ``None``: nobody)."""

    def __init__(
        self, secure: SecureAggregation | None, aggregator: Aggregator, *, fedavg: bool = True
    ) -> None:
        self.secure = secure
        self.aggregator = aggregator
        self.fedavg = fedavg

    @property
    def readable(self) -> bool:
        """Whether anyone may read an individual update (the free-rider screen and replica
        grouping need it)."""
        return self.reader is not None

    # ----- the round's sum -----
    def aggregate(
        self,
        accepted: list[ParticipantAgent],
        weights: list[float],
        store: UpdateStore,
        rng: np.random.Generator,
    ) -> tuple[AggregationReport, list[np.ndarray] | None]:
        """The included participants and the FedAvg delta of their updates, and the
        individual updates the server read for it (``None`` under secure aggregation).

        Under secure aggregation, each accepted client drops out with ``dropout_rate`` at a
        random stage (``p.dropped_stage``); an aborted run leaves the model unchanged."""
        report = AggregationReport()
        if not accepted:
            return report, None
        if self.secure is None:
            deltas = store.read_updates([p.pid for p in accepted], "aggregation")
            report.members = accepted
            report.delta = self.aggregator(deltas, weights)
            return report, deltas
        pids = [p.pid for p in accepted]
        scaled, scale = _scaled_inputs(pids, weights, store)
        dropouts: dict[str, list[int]] = {}
        if self.secure.dropout_rate > 0:
            for p in accepted:
                if rng.random() < self.secure.dropout_rate:
                    stage = SECAGG_STAGES[int(rng.integers(len(SECAGG_STAGES)))]
                    dropouts.setdefault(stage, []).append(p.pid)
                    p.dropped_stage = stage
        try:
            result = self.secure.run(dict(zip(pids, scaled, strict=True)), rng, dropouts)
        except privacy.SecAggAborted as error:
            report.record_abort(error)  # typed reason, message, and the graph if one was built
            return report, None
        report.secagg_bytes = int(sum(sum(v.values()) for v in result.bytes_sent.values()))
        report.secagg_seconds = float(sum(result.seconds.values()))
        report.graph = result.graph
        members = [
            (p, w) for p, w in zip(accepted, weights, strict=True) if p.pid in result.included
        ]
        report.members = [p for p, _ in members]
        if members:
            total = sum(w for _, w in members)
            report.delta = (result.aggregate * scale / total).astype(np.float32)
        return report, None

    # ----- coalition utilities -----
    def coalitions(
        self,
        included: list[ParticipantAgent],
        weights: list[float],
        store: UpdateStore,
        rng: np.random.Generator,
        ledger: SecAggLedger,
    ) -> tuple[list[np.ndarray] | None, CoalitionAggregate | None]:
        """What a coalition utility is built from: the included updates (read by the mode's
        reader) and the rule that aggregates a coalition (``None``: FedAvg of the updates).
        Where nobody may read an update, each coalition's sum is a real secure run."""
        if self.reader is None:
            assert self.secure is not None  # the scenario allows it only with secure sums
            scaled, scale = _scaled_inputs([p.pid for p in included], weights, store)
            return None, coalition_aggregator(scaled, weights, scale, self.secure, rng, ledger)
        deltas = store.read_updates([p.pid for p in included], "coalition utilities")
        if self.fedavg:
            return deltas, None
        aggregator = self.aggregator

        def aggregate(coalition: frozenset[int]) -> np.ndarray:
            members = sorted(coalition)
            return aggregator([deltas[i] for i in members], [weights[i] for i in members])

        return deltas, aggregate

    # ----- what the round released -----
    def leak(self, released: Sequence[frozenset[int]], n_players: int) -> privacy.LeakReport:
        """What the round's releases determine (``privacy.leak_report``; the round's total is
        always released): :meth:`_releases`, or every included client where the server reads
        the updates."""
        if n_players == 0:
            return privacy.LeakReport(frozenset(), frozenset(), 0)
        releases = self._releases(released, frozenset(range(n_players)))
        if releases is None:
            return privacy.LeakReport(frozenset(range(n_players)), frozenset({0}), 1)
        return privacy.leak_report(releases, n_players)

    @abstractmethod
    def _releases(
        self, released: Sequence[frozenset[int]], grand: frozenset[int]
    ) -> list[frozenset[int]] | None:
        """The coalition sums the server learnt (``None``: it read every update)."""


class Plaintext(Access):
    """``plaintext``: the server reads every update (with or without a secure sum)."""

    name = "plaintext"
    reader = DECLARED_READER[name]

    def _releases(
        self, released: Sequence[frozenset[int]], grand: frozenset[int]
    ) -> list[frozenset[int]] | None:
        return None


class TrustedEvaluator(Access):
    """``trusted_evaluator``: a trusted party reads the updates to screen, group replicas and
    score; the server sees the secure sum and scalar utilities only."""

    name = "trusted_evaluator"
    reader = DECLARED_READER[name]

    def _releases(
        self, released: Sequence[frozenset[int]], grand: frozenset[int]
    ) -> list[frozenset[int]] | None:
        return [grand]


class SecureCoalitions(Access):
    """``secure_coalitions``: every coalition sum scoring asks for is a real secure run over
    exactly that coalition; nobody reads an individual update."""

    name = "secure_coalitions"
    reader = DECLARED_READER[name]

    def _releases(
        self, released: Sequence[frozenset[int]], grand: frozenset[int]
    ) -> list[frozenset[int]] | None:
        return [*released, grand]


def coalition_aggregator(
    scaled: Sequence[np.ndarray],
    weights: Sequence[float],
    scale: float,
    settings: SecureAggregation,
    rng: np.random.Generator,
    ledger: SecAggLedger,
) -> CoalitionAggregate:
    """``coalition -> FedAvg delta`` where each coalition sum is a real secure run.

    ``scaled[i]`` is player i's update already multiplied by ``weights[i] / scale`` (what the
    client feeds to secure aggregation), so the FedAvg of S is ``sum * scale / sum(weights)``.
    A coalition of one client cannot be securely aggregated (t >= 2): its update is released
    as is and recorded in ``ledger.released``, so the leak audit counts it as exposed.
    """

    def aggregate(coalition: frozenset[int]) -> np.ndarray:
        members = sorted(coalition)
        if len(members) < 2:
            # secure aggregation needs t >= 2 clients: the "sum" of one client is its update,
            # released as such and counted by the leak audit (it exposes that client)
            ledger.released.append(frozenset(members))
            if not members:
                return np.zeros_like(np.asarray(scaled[0]), dtype=np.float32)
            return (np.asarray(scaled[members[0]]) * scale / weights[members[0]]).astype(np.float32)
        result = secure_sum({i: scaled[i] for i in members}, settings, rng=rng)
        ledger.runs += 1
        ledger.bytes_sent += int(sum(sum(v.values()) for v in result.bytes_sent.values()))
        ledger.seconds += float(sum(result.seconds.values()))
        ledger.released.append(frozenset(members))
        total_weight = sum(weights[i] for i in members)
        return (result.aggregate * scale / total_weight).astype(np.float32)

    return aggregate


ACCESS_MODES: Mapping[str, type[Access]] = {
    cls.name: cls for cls in (Plaintext, SecureCoalitions, TrustedEvaluator)
}
"""The access modes by their scenario name (``privacy.access``)."""
