"""Choosing the SecAgg+ neighbour count k and threshold t for n clients and a dropout rate.

Bell et al. (2020), "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead" (CCS),
Sec. 3-4, pick k = O(log n) and t so that, except with a small failure probability, (i) the
surviving clients stay connected in the graph, (ii) every secret keeps t surviving holders, and
(iii) no client has t corrupt holders. This module computes those three probabilities as union
bounds for the graph `privacy.graph.neighbor_graph` really draws (a randomly labelled Harary
graph H_{k,n}) with each client dropping independently with probability `dropout_rate`:

* abort (correctness): P[Bin(n, 1 - d) < t] + n * P[Bin(k + 1, 1 - d) < t] + P[disconnected].
  H_{k,n} contains the circulant graph with offsets 1..h, h = floor(k / 2); removing clients
  from it disconnects the rest only if two disjoint runs of h consecutive clients drop, so
  P[disconnected] <= C(n, 2) d^(2h) (k = 1, a path: <= (n - 2) d). A disconnected or
  too-small survivor set aborts (`privacy.errors`): it never releases a partial sum.
* collusion (privacy against colluding clients): n * P[Bin(k, c) >= t], c the corrupt fraction.

In the malicious model (`privacy.config.SecAggConfig.quorum`) a client needs
q = max(t, floor(holders / 2) + 1) live holders rather than t, so the abort bound is computed
with q (`threat_model="malicious"`). Only the abort bound depends on the dropout rate;
privacy against an honest-but-curious server holds for every choice with t >= 2 (the protocol
aborts instead of releasing partial sums).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import binom


@dataclass(frozen=True)
class SecAggParameters:
    """A neighbour count and threshold with their failure bounds.

    Attributes:
        n_clients: n.
        neighbors: the SecAgg+ degree k, or None for the complete graph (SecAgg).
        threshold: the Shamir threshold t (>= 2).
        abort_bound: upper bound on P[the round aborts] from dropouts.
        collusion_bound: upper bound on P[some client has t corrupt share holders].
        meets_target: abort_bound + collusion_bound <= the failure probability asked for.
    """

    n_clients: int
    neighbors: int | None
    threshold: int
    abort_bound: float
    collusion_bound: float
    meets_target: bool


def _check_rate(name: str, value: float, upper_open: bool) -> None:
    ok = isinstance(value, int | float) and 0 <= value and (value < 1 if upper_open else value <= 1)
    if not ok or isinstance(value, bool):
        raise ValueError(f"{name}: must be a number in [0, 1{')' if upper_open else ']'}")


def failure_bounds(
    n_clients: int,
    *,
    neighbors: int | None,
    threshold: int,
    dropout_rate: float,
    corrupt_fraction: float = 0.0,
    threat_model: str = "semi_honest",
) -> tuple[float, float]:
    """(abort bound, collusion bound) of one (k, t) choice; see the module docstring."""
    _check_rate("dropout_rate", dropout_rate, upper_open=True)
    _check_rate("corrupt_fraction", corrupt_fraction, upper_open=True)
    n = n_clients
    if n < 2:
        raise ValueError(f"n_clients: secure aggregation needs >= 2 clients (t >= 2), got {n}")
    if neighbors is not None and not 1 <= neighbors <= n - 1:
        raise ValueError(f"neighbors: must be in 1..{n - 1} for {n} clients, or None")
    holders = n if neighbors is None else neighbors + 1
    if not 2 <= threshold <= holders:
        raise ValueError(
            f"threshold: must be in 2..{holders} (share holders per client); t = 1 hands "
            f"each secret to any single holder, got {threshold}"
        )
    alive = 1.0 - dropout_rate
    needed = threshold  # live holders a client's secrets need
    if threat_model == "malicious":  # and a strict majority of them must sign the survivors
        needed = max(threshold, holders // 2 + 1)
    elif threat_model != "semi_honest":
        raise ValueError(
            f"threat_model: must be 'semi_honest' or 'malicious', got {threat_model!r}"
        )
    abort = float(binom.cdf(needed - 1, n, alive))
    if neighbors is None:
        collusion = float(binom.sf(threshold - 1, n - 1, corrupt_fraction))
    else:
        abort += n * float(binom.cdf(needed - 1, holders, alive))
        h = neighbors // 2
        abort += (n - 2) * dropout_rate if h == 0 else math.comb(n, 2) * dropout_rate ** (2 * h)
        collusion = n * float(binom.sf(threshold - 1, neighbors, corrupt_fraction))
    return min(abort, 1.0), min(collusion, 1.0)


def threshold_of(threshold_share: float, holders: int) -> int:
    """The Shamir threshold t = min(holders, max(2, ceil(threshold_share * holders))): the
    one place a threshold share becomes t (t >= 2: t = 1 hands a secret to any one holder)."""
    return min(holders, max(2, math.ceil(threshold_share * holders)))


def secaggplus_parameters(
    n_clients: int,
    *,
    dropout_rate: float,
    failure_probability: float = 1e-6,
    corrupt_fraction: float = 0.0,
    threshold_share: float = 0.5,
    min_neighbors: int = 1,
    threat_model: str = "semi_honest",
) -> SecAggParameters:
    """The smallest k >= min_neighbors (then the complete graph) whose bounds meet the target.

    t = max(2, ceil(threshold_share * holders)) with holders = k + 1 (n for the complete graph).
    When no choice meets `failure_probability`, the one with the smallest bound is returned with
    `meets_target=False` (the round may abort more often; it never releases more than the total).

    Args:
        n_clients: n >= 2.
        dropout_rate: probability that a client drops during the round, in [0, 1).
        failure_probability: target for abort_bound + collusion_bound, in (0, 1].
        corrupt_fraction: fraction of clients colluding with the server, in [0, 1).
        threshold_share: t as a share of the holders, in (0, 1].
        min_neighbors: the smallest k to consider (e.g. the scenario's degree).
        threat_model: "semi_honest", or "malicious" (the abort bound counts the majority
            quorum a malicious-model round needs).
    """
    if not (isinstance(failure_probability, int | float) and 0 < failure_probability <= 1):
        raise ValueError("failure_probability: must be a number in (0, 1]")
    if not (isinstance(threshold_share, int | float) and 0 < threshold_share <= 1):
        raise ValueError("threshold_share: must be a number in (0, 1]")
    if n_clients < 2:
        raise ValueError(f"n_clients: secure aggregation needs >= 2 clients, got {n_clients}")
    candidates: list[int | None] = [*range(max(1, min_neighbors), n_clients - 1), None]
    best: SecAggParameters | None = None
    for k in candidates:
        holders = n_clients if k is None else k + 1
        t = threshold_of(threshold_share, holders)
        abort, collusion = failure_bounds(
            n_clients,
            neighbors=k,
            threshold=t,
            dropout_rate=dropout_rate,
            corrupt_fraction=corrupt_fraction,
            threat_model=threat_model,
        )
        meets = abort + collusion <= failure_probability
        choice = SecAggParameters(n_clients, k, t, abort, collusion, meets)
        if meets:
            return choice
        if best is None or abort + collusion < best.abort_bound + best.collusion_bound:
            best = choice
    assert best is not None  # the complete graph is always a candidate
    return best
