"""Scoring under secure aggregation: three explicit ways to reach coalition utilities.

Shapley-style scoring needs the model of many coalitions, but secure aggregation exists so
that the server never sees an individual update. No framework resolves this; fedmarket
makes the choice explicit and reports what each choice gives away:

* ``plaintext``: the server sees every update. Everyone included is exposed.
* ``secure_coalitions``: each coalition aggregate that scoring asks for is the output of a
  real secure-aggregation run over exactly that subset. The server sees only sums, but sums
  of overlapping coalitions can be differenced: ``privacy.exposed_clients`` says who is
  exposed by the set of released coalitions (e.g. ``{S, S + i}`` exposes ``i``).
* ``trusted_evaluator``: coalition utilities are computed by a *trusted party* (e.g. a TEE
  enclave) that holds every plaintext update; only scalar utilities leave it, so the server
  learns just the round's sum. This is trust, not cryptography: whoever runs or breaks the
  evaluator sees every update, and the utilities themselves (and the payments computed from
  them) leak information the audit does not count. SecSV (Zheng et al. 2022) does this with
  secure computation instead; fedmarket does not. ``secure_evaluator`` is the old name,
  still accepted with a DeprecationWarning.

The Shamir threshold and the SecAgg+ degree come from ``privacy.secaggplus_parameters`` (Bell
et al. 2020) for the round's number of clients and dropout rate; t >= 2 always, and a round
with fewer than two clients aborts (the sum of one client is its update).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

import privacy
from agents.scenario.sections import TRUSTED_EVALUATOR, canonical_access


@dataclass
class SecAggLedger:
    """What the secure-aggregation runs of one round cost and released."""

    runs: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    released: list[frozenset[int]] = field(default_factory=list)
    aborted: int = 0


def secure_sum(
    updates: Mapping[int, np.ndarray],
    *,
    threshold_share: float,
    neighbors: int,
    clip: float,
    bits: int,
    rng: np.random.Generator,
    dropouts: Mapping[str, Sequence[int]] | None = None,
    dropout_rate: float = 0.0,
    failure_probability: float = 1e-6,
    threat_model: str = "semi_honest",
) -> privacy.SecAggResult:
    """One secure-aggregation run with the scenario's graph and threshold rules.

    ``neighbors <= 0`` (or >= n - 1) asks for the complete graph, with t = max(2,
    ceil(threshold_share * n)). A positive ``neighbors`` is the smallest SecAgg+ degree the
    round may use: ``privacy.secaggplus_parameters`` raises it (up to the complete graph) until
    the abort bound for ``dropout_rate`` meets ``failure_probability``, with t = max(2,
    ceil(threshold_share * (k + 1))). ``threat_model`` ("semi_honest" or "malicious") is
    passed to ``privacy.secure_aggregate``. Raises ``privacy.TooFewSurvivors`` for fewer than 2
    clients and any ``privacy.SecAggAborted`` of the run.
    """
    n = len(updates)
    if n < 2:
        raise privacy.TooFewSurvivors("advertise_keys", n, 2)
    if neighbors <= 0 or neighbors >= n - 1:
        degree = None
        threshold = min(n, max(2, int(np.ceil(threshold_share * n))))
    else:
        chosen = privacy.secaggplus_parameters(
            n,
            dropout_rate=dropout_rate,
            failure_probability=failure_probability,
            threshold_share=threshold_share,
            min_neighbors=neighbors,
            threat_model=threat_model,
        )
        degree, threshold = chosen.neighbors, chosen.threshold
    return privacy.secure_aggregate(
        updates,
        threshold=threshold,
        neighbors=degree,
        dropouts={k: list(v) for k, v in (dropouts or {}).items()},
        clip=clip,
        bits=bits,
        rng=rng,
        threat_model=privacy.check_threat_model(threat_model),
    )


def coalition_aggregator(
    scaled: Sequence[np.ndarray],
    weights: Sequence[float],
    scale: float,
    *,
    threshold_share: float,
    neighbors: int,
    clip: float,
    bits: int,
    rng: np.random.Generator,
    ledger: SecAggLedger,
    dropout_rate: float = 0.0,
    threat_model: str = "semi_honest",
) -> Callable[[frozenset[int]], np.ndarray]:
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
        result = secure_sum(
            {i: scaled[i] for i in members},
            threshold_share=threshold_share,
            neighbors=neighbors,
            clip=clip,
            bits=bits,
            rng=rng,
            dropout_rate=dropout_rate,
            threat_model=threat_model,
        )
        ledger.runs += 1
        ledger.bytes_sent += int(sum(sum(v.values()) for v in result.bytes_sent.values()))
        ledger.seconds += float(sum(result.seconds.values()))
        ledger.released.append(frozenset(members))
        total_weight = sum(weights[i] for i in members)
        return (result.aggregate * scale / total_weight).astype(np.float32)

    return aggregate


def leak_report(
    access: str, released: Sequence[frozenset[int]], n_players: int
) -> privacy.LeakReport:
    """What the round's releases under ``access`` determine (the round's total is released)."""
    mode = canonical_access(access)
    if n_players == 0:
        return privacy.LeakReport(frozenset(), frozenset(), 0)
    if mode == "plaintext":
        everyone = frozenset(range(n_players))
        return privacy.LeakReport(everyone, frozenset({0}), 1)
    grand = frozenset(range(n_players))
    if mode == TRUSTED_EVALUATOR:
        return privacy.leak_report([grand], n_players)
    return privacy.leak_report([*released, grand], n_players)


def exposed_count(access: str, released: Sequence[frozenset[int]], n_players: int) -> int:
    """How many included clients the access mode exposes this round."""
    return len(leak_report(access, released, n_players).exposed)
