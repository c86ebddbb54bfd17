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

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

import privacy
from agents.dp import DifferentialPrivacy, RoundNoise
from agents.reports import AggregationReport, RoundContext
from agents.secure_sum import (
    SECAGG_STAGES,
    CoalitionAggregate,
    SecAggLedger,
    SecureAggregation,
    coalition_aggregator,
    secure_sum,
)
from agents.update_store import DECLARED_READER, UpdateStore
from fl_core.aggregation import Aggregator

if TYPE_CHECKING:
    from agents.participants import ParticipantAgent

__all__ = [
    "ACCESS_MODES",
    "SECAGG_STAGES",
    "Access",
    "CoalitionAggregate",
    "Plaintext",
    "SecAggLedger",
    "SecureAggregation",
    "SecureCoalitions",
    "TrustedEvaluator",
    "coalition_aggregator",
    "secure_sum",
]


def _scaled_inputs(
    pids: Sequence[int],
    weights: Sequence[float],
    store: UpdateStore,
    noise: RoundNoise | None = None,
    *,
    purpose: str = "",
) -> tuple[list[np.ndarray], float]:
    """What each client feeds a sum: its update (held to its DP clip with ``noise``) times
    ``weight / max weight`` (so the FedAvg of S is ``sum * scale / sum(weights)``), and that
    scale. With ``purpose`` the updates are a declared reader's read, else each client's own."""
    if purpose:
        inputs = dict(zip(pids, store.read_updates(list(pids), purpose), strict=True))
    else:
        inputs = store.secure_inputs(pids)
    scale = max(weights)
    scaled = []
    for pid, w in zip(pids, weights, strict=True):
        update = np.asarray(inputs[pid], dtype=np.float64)
        if noise is not None:
            update = noise.clipped(pid, update)
        scaled.append(update * (w / scale))
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
        context: RoundContext,
    ) -> tuple[AggregationReport, list[np.ndarray] | None]:
        """The included participants and the FedAvg delta of their updates, and the
        individual updates the server read for it (``None`` under secure aggregation).

        Under secure aggregation, each accepted client drops out with ``dropout_rate`` at a
        random stage (``p.dropped_stage``); an aborted run leaves the model unchanged. With
        ``noise`` (DP-FedAvg), the sum is of clipped updates plus every member's noise share,
        added by the clients before masking under secure aggregation, by the server in the
        clear; the released sum is recorded."""
        report, rng, noise = AggregationReport(), context.secagg_rng, context.noise
        if not accepted:
            return report, None
        pids = [p.pid for p in accepted]
        if self.secure is None:
            deltas = store.read_updates(pids, "aggregation")
            report.members = accepted
            if noise is None:
                report.delta = self.aggregator(deltas, weights)
                return report, deltas
            clipped, scale = _scaled_inputs(pids, weights, store, noise, purpose="aggregation")
            total = np.sum(clipped, axis=0) + np.sum([noise.shares[pid] for pid in pids], axis=0)
            noise.release(pids)
            report.delta = (total * scale / sum(weights)).astype(np.float32)
            return report, deltas
        scaled, scale = _scaled_inputs(pids, weights, store, noise)
        dropouts: dict[str, list[int]] = {}
        if self.secure.dropout_rate > 0:
            for p in accepted:
                if rng.random() < self.secure.dropout_rate:
                    stage = SECAGG_STAGES[int(rng.integers(len(SECAGG_STAGES)))]
                    dropouts.setdefault(stage, []).append(p.pid)
                    p.dropped_stage = stage
        try:
            result = self.secure.run(dict(zip(pids, scaled, strict=True)), rng, dropouts, noise)
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
        if noise is not None and members:
            noise.release([p.pid for p in report.members])
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
        noise: RoundNoise | None = None,
    ) -> tuple[list[np.ndarray] | None, CoalitionAggregate | None]:
        """What a coalition utility is built from: the included updates (read by the mode's
        reader) and the rule that aggregates a coalition (``None``: FedAvg of the updates).
        Where nobody may read an update, each coalition's sum is a real secure run. With
        ``noise``, every coalition sum carries its members' noise shares: the readable modes
        hand out each update clipped, weighted and noised (``y_i``, scaled back by
        ``scale / w_i`` so that their FedAvg is the noised coalition sum); the caller records
        the coalitions evaluated."""
        pids = [p.pid for p in included]
        noise = None if noise is None else noise.scoring  # scoring's own shares, if it has any
        if self.reader is None:
            assert self.secure is not None  # the scenario allows it only with secure sums
            scaled, scale = _scaled_inputs(pids, weights, store, noise)
            secure_runs = coalition_aggregator(
                scaled, weights, scale, self.secure, rng, ledger, noise=noise, pids=pids
            )
            return None, secure_runs
        if noise is not None:  # DP needs FedAvg (the scenario says so)
            clipped, scale = _scaled_inputs(
                pids, weights, store, noise, purpose="coalition utilities"
            )
            noised = [
                ((y + noise.shares[pid]) * (scale / w)).astype(np.float32)
                for pid, y, w in zip(pids, clipped, weights, strict=True)
            ]
            return noised, None
        deltas = store.read_updates(pids, "coalition utilities")
        if self.fedavg:
            return deltas, None
        aggregator = self.aggregator

        def aggregate(coalition: frozenset[int]) -> np.ndarray:
            members = sorted(coalition)
            return aggregator([deltas[i] for i in members], [weights[i] for i in members])

        return deltas, aggregate

    # ----- differential privacy -----
    def noise_divisor(self, n: int) -> int:
        """``t`` of a round of ``n`` accepted clients: each share has std ``z clip / sqrt(t)``.

        In the clear, ``n`` (the server adds exactly ``z clip`` to the model's sum). Under
        secure aggregation, the clients expected to survive, ``floor(n (1 - dropout_rate))``,
        and never fewer than the Shamir threshold (no unmasked sum has fewer members): with
        more dropouts than expected the sum carries less noise, and the accounting, which
        reads the clients actually included, says what it cost."""
        if self.secure is None:
            return max(n, 1)
        shamir = self.secure.graph_parameters(n)[1] if n >= 2 else 2
        return max(shamir, math.floor(n * (1 - self.secure.dropout_rate)))

    def round_noise(
        self,
        dp: DifferentialPrivacy | None,
        accepted: list[ParticipantAgent],
        context: RoundContext,
    ) -> RoundNoise | None:
        """The round's noise shares for ``accepted`` (``None`` without DP), from the run's DP
        stream, each of std ``z clip / sqrt(t)`` with ``t`` = :meth:`noise_divisor`."""
        rng, dimension = context.dp_rng, len(context.base_vector)
        if dp is None or rng is None or not accepted:
            return None
        pids = [p.pid for p in accepted]
        factors = [p.privacy.clip_factor for p in accepted]
        t = self.noise_divisor(len(pids))
        step = self.noise_grid_step(dp, len(pids))
        return dp.round_noise(pids, factors, t, dimension, rng, step=step)

    def noise_grid_step(self, dp: DifferentialPrivacy, n: int) -> float:
        """The quantisation step the noise of a round of ``n`` accepted clients is sized for
        (0 in the clear): the grid of the noisiest run that round (scoring's own shares,
        where it has them). No run's grid is coarser, so the rounding it covers bounds them
        all."""
        if self.secure is None:
            return 0.0
        z = max(dp.noise_multiplier, dp.scoring_multiplier or 0.0)
        std = privacy.dp.share_std(z, dp.clip, self.noise_divisor(n))
        return privacy.dp.grid_step(std, n, clip=self.secure.clip, bits=self.secure.bits)

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


ACCESS_MODES: Mapping[str, type[Access]] = {
    cls.name: cls for cls in (Plaintext, SecureCoalitions, TrustedEvaluator)
}
"""The access modes by their scenario name (``privacy.access``)."""
