"""Scoring under secure aggregation: three explicit ways to reach coalition utilities.

Shapley-style scoring needs the model of many coalitions, but secure aggregation exists so
that the server never sees an individual update. No framework resolves this; fedmarket
makes the choice explicit and reports what each choice gives away:

* ``plaintext``: the server sees every update. Everyone included is exposed.
* ``secure_coalitions``: each coalition aggregate that scoring asks for is the output of a
  real secure-aggregation run over exactly that subset. The server sees only sums, but sums
  of overlapping coalitions can be differenced: ``privacy.exposed_clients`` says who is
  exposed by the set of released coalitions (e.g. ``{S, S + i}`` exposes ``i``).
* ``secure_evaluator``: coalition utilities are computed inside a trusted evaluation
  boundary (in the spirit of SecSV, Zheng et al. 2022, which uses secure computation for
  this), and only scalar utilities leave it; the server learns just the round's sum. Nobody
  is exposed beyond what the sum itself reveals (the whole update when only one client is
  included).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

import privacy


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
) -> privacy.SecAggResult:
    """One secure-aggregation run with the scenario's graph and threshold rules."""
    n = len(updates)
    degree = None if neighbors <= 0 or neighbors >= n - 1 else neighbors
    pool = n if degree is None else degree
    threshold = max(1, min(pool, int(np.ceil(threshold_share * pool))))
    return privacy.secure_aggregate(
        updates,
        threshold=threshold,
        neighbors=degree,
        dropouts={k: list(v) for k, v in (dropouts or {}).items()},
        clip=clip,
        bits=bits,
        rng=rng,
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
) -> Callable[[frozenset[int]], np.ndarray]:
    """``coalition -> FedAvg delta`` where each coalition sum is a real secure run.

    ``scaled[i]`` is player i's update already multiplied by ``weights[i] / scale`` (what the
    client feeds to secure aggregation), so the FedAvg of S is ``sum * scale / sum(weights)``.
    """

    def aggregate(coalition: frozenset[int]) -> np.ndarray:
        members = sorted(coalition)
        result = secure_sum(
            {i: scaled[i] for i in members},
            threshold_share=threshold_share,
            neighbors=neighbors,
            clip=clip,
            bits=bits,
            rng=rng,
        )
        ledger.runs += 1
        ledger.bytes_sent += int(sum(sum(v.values()) for v in result.bytes_sent.values()))
        ledger.seconds += float(sum(result.seconds.values()))
        ledger.released.append(frozenset(members))
        total_weight = sum(weights[i] for i in members)
        return (result.aggregate * scale / total_weight).astype(np.float32)

    return aggregate


def exposed_count(access: str, released: Sequence[frozenset[int]], n_players: int) -> int:
    """How many included clients the access mode exposes this round."""
    if n_players == 0:
        return 0
    if access == "plaintext":
        return n_players
    if access == "secure_evaluator":
        return len(privacy.exposed_clients([frozenset(range(n_players))], n_players))
    return len(privacy.exposed_clients([*released, frozenset(range(n_players))], n_players))
