"""Replica groups and free-rider screening: updates that carry no training of their own.

Replica groups: identities whose updates are near-identical are paid as one owner.

An attacker that trains once and submits the same update under several identities (or the
same update plus small noise) is found by the pairwise cosine similarity of the updates, as
FoolsGold does for Sybil clients (Fung, Yoon & Beschastnikh 2020, "The limitations of
federated learning in sybil settings", RAID). Honest clients train on different data, so
their updates differ far more than ``1 - threshold`` in cosine distance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from market.types import FloatArray, IntArray

_ROWS_PER_BLOCK = 512
"""Rows of the cosine-similarity matrix computed at a time (a 19,000-update round would need
2.8 GB for the whole matrix)."""
REPLICA_SIMILARITY = 0.995
"""Cosine similarity at or above which two updates count as replicas of one training run."""
MIN_RELATIVE_NORM = 0.05
"""An update whose norm is below this fraction of the round's median norm is empty: a zero
update, or a tiny one that only dilutes the average (which a saturated model rewards)."""
REPLAY_SIMILARITY = 0.6
"""Least cosine similarity with the platform's last global step (less the identity's own
share) at which an update is a replay *unless* what it adds to that step is this round's
work (see :data:`NOISE_Z`). A disguised rider whose noise is as large as the step sits at
``1/sqrt(2) = 0.71``; one with noise over ~1.3x the step passes."""
STALE_SIMILARITY = 0.99
"""Cosine similarity with the last global step at or above which an update is a replay
whatever it adds (a stale update, rescaled or with noise below ~0.14x the step). Measured
on MiniLM head mode: the most aligned honest update, a client of one local step whose
AdamW momentum carries its previous direction, reached 0.987."""
NOISE_Z = 4.0
"""Standard deviations above chance at which the part of an update off the last step counts
as this round's work. Isotropic noise ``r`` (Fraboni et al. 2021's disguise) puts a fraction
``B ~ Beta(k/2, (d-k)/2)`` of its energy in a fixed ``k``-dimensional subspace of
``R^d``, mean ``k/d``; an honest update's residual lies largely in the span of the round's
other updates, because gradients of one model on one task share a small subspace
(Gur-Ari, Roberts & Dyer 2018, "Gradient descent happens in a tiny subspace")."""


def replica_groups(updates: FloatArray, *, threshold: float = REPLICA_SIMILARITY) -> IntArray:
    """Label each update with its replica group (connected components of similarity >= threshold).

    Args:
        updates: ``(n, d)`` update vectors; a zero update is its own group.
        threshold: cosine similarity in ``(0, 1]`` above which two updates are replicas.

    Returns:
        ``(n,)`` labels; each group is labelled by its smallest member.
    """
    vectors = np.asarray(updates, dtype=np.float64)
    if vectors.ndim != 2 or not np.all(np.isfinite(vectors)):
        raise ValueError("updates must be a finite (n, d) array")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = vectors.shape[0]
    norms = np.linalg.norm(vectors, axis=1)
    unit = np.divide(vectors, norms[:, None], out=np.zeros_like(vectors), where=norms[:, None] > 0)
    valid = norms > 0
    rows, cols = [], []
    for start in range(0, n, _ROWS_PER_BLOCK):  # never the whole n x n similarity matrix
        stop = min(start + _ROWS_PER_BLOCK, n)
        close = unit[start:stop] @ unit.T >= threshold - 1e-12
        close &= valid[start:stop, None] & valid[None, :]
        r, c = np.nonzero(close)
        rows.append(r + start)
        cols.append(c)
    row, col = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(row.size, dtype=np.int8), (row, col)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    smallest = np.full(int(component.max()) + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(smallest, component, np.arange(n, dtype=np.int64))
    labels: IntArray = smallest[component]  # each group labelled by its smallest member
    return labels


def _explained(residual: FloatArray, basis: FloatArray) -> float:
    """Fraction of ``residual``'s energy inside the span of ``basis``'s rows (1.0 for zero)."""
    energy = float(residual @ residual)
    if energy == 0 or basis.shape[0] == 0:
        return 1.0 if energy == 0 else 0.0
    q, _ = np.linalg.qr(basis.T)
    inside = q.T @ residual
    return float(inside @ inside) / energy


def _chance_fraction(k: int, d: int, z: float) -> float:
    """``z`` standard deviations above the mean of ``Beta(k/2, (d-k)/2)``: the fraction of an
    isotropic vector's energy in a fixed ``k``-dimensional subspace of ``R^d``."""
    if k >= d:
        return 1.0
    mean = k / d
    sd = float(np.sqrt(2.0 * k * (d - k) / (d * d * (d + 2.0))))
    return min(mean + z * sd, 1.0)


def free_rider_reasons(
    updates: FloatArray,
    last_step: FloatArray | None,
    *,
    own_shares: Sequence[FloatArray | None] | None = None,
    min_relative_norm: float = MIN_RELATIVE_NORM,
    replay_similarity: float = REPLAY_SIMILARITY,
    stale_similarity: float = STALE_SIMILARITY,
    noise_z: float = NOISE_Z,
) -> list[str]:
    """Why each update looks like free riding (``""``: it does not).

    Two tests on what the server sees in the clear, against the attacks of Lin et al. 2019
    ("Free-riders in federated learning: attacks and defenses") and Fraboni et al. 2021
    ("Free-rider attacks on model aggregation in federated learning", AISTATS):

    * *empty*: norm below ``min_relative_norm`` x the round's median norm (zero updates, or
      tiny ones whose only effect is to shrink the average step);
    * *replay*: cosine similarity ``c`` with ``last_step`` (the server's own last global step
      minus the identity's own FedAvg share of it, ``own_shares[i]``) at least
      ``stale_similarity``, or at least ``replay_similarity`` while the update's residual
      off that step is noise: the fraction of the residual's energy in the span of the
      round's other updates and the step is within ``noise_z`` standard deviations of what
      isotropic noise puts there (see :data:`NOISE_Z`).

    Honest updates can point along the last step: a client that trains to convergence (many
    local steps) continues the step, and so does a strongly label-skewed one. The earlier rule
    (a cosine at least ``max(0.6, median + 0.25)``) flagged such clients and let a disguised
    rider through in rounds where the honest median was high
    (``tests/agents/test_screen_honest.py``).

    Limits (measured on MiniLM head mode, ``tests/agents/test_screen_honest.py``): no honest
    client was flagged in mixed rounds from 2 to 75 local steps, 4 reviews, and
    ``class_alpha = 0.05``; in a round where EVERY honest client is that skewed, a client
    with one or two local steps (``speed * deadline_s`` near ``min_samples``) sends mostly
    its carried AdamW momentum, the class-prior push the last step also was, and is flagged
    as a replay (cosine 0.92-0.99, remainder noise-like). *empty*: the smallest honest
    relative norm measured was 0.19 on MiniLM; on the 66-parameter tiny head a 2-step
    client reached 0.04 beside many-step ones and was flagged (13 updates in 66 dimensions
    leave chance 0.2 +- 0.07 of any vector, so the span test cannot vouch for it). An
    adaptive rider that builds its update from older global steps is not covered.

    Args:
        updates: ``(n, d)`` updates of one round.
        last_step: the last global step, or ``None`` in the first round.
        own_shares: per update, its weighted share of ``last_step`` (``None``: none).
        min_relative_norm: the empty-update threshold relative to the round's median norm.
        replay_similarity: the least cosine at which a noise-like residual is a replay.
        stale_similarity: the cosine at which an update is a replay whatever it adds.
        noise_z: standard deviations above chance a residual's explained fraction must reach.
    """
    vectors = np.asarray(updates, dtype=np.float64)
    if vectors.ndim != 2 or not np.all(np.isfinite(vectors)):
        raise ValueError("updates must be a finite (n, d) array")
    n, d = vectors.shape
    shares = [None] * n if own_shares is None else list(own_shares)
    if len(shares) != n:
        raise ValueError(f"own_shares must have {n} entries")
    norms = np.linalg.norm(vectors, axis=1)
    median = float(np.median(norms))
    step_all = None if last_step is None else np.asarray(last_step, dtype=np.float64)
    reasons = [""] * n
    for i in range(n):
        if norms[i] == 0:
            reasons[i] = f"empty update (norm 0, round median {median:.3g})"
        elif norms[i] <= min_relative_norm * median:
            basis = [vectors[j] for j in range(n) if j != i and norms[j] > 0]
            if step_all is not None and np.any(step_all):
                basis.append(step_all)
            stacked = np.vstack(basis) if basis else np.zeros((0, d))
            rank = int(np.linalg.matrix_rank(stacked)) if basis else 0
            explained = _explained(vectors[i], stacked)
            if explained <= _chance_fraction(rank, d, noise_z):
                reasons[i] = (
                    f"empty update (norm {norms[i]:.3g}, round median {median:.3g}, "
                    f"{explained:.3f} of it in this round's span)"
                )
    if last_step is None:
        return reasons
    for i in range(n):
        if reasons[i]:
            continue
        step = np.asarray(last_step, dtype=np.float64)
        if shares[i] is not None:
            step = step - np.asarray(shares[i], dtype=np.float64)
        step_norm = float(np.linalg.norm(step))
        if step_norm == 0:
            continue
        unit = step / step_norm
        similarity = float(vectors[i] @ unit) / norms[i]
        if similarity >= stale_similarity:
            reasons[i] = f"replays the last global step (cosine {similarity:.2f})"
            continue
        if similarity < replay_similarity:
            continue
        residual = vectors[i] - (vectors[i] @ unit) * unit
        residual -= (residual @ unit) * unit  # once more against rounding
        others = [j for j in range(n) if j != i and norms[j] > 0]
        span = np.vstack([vectors[others], unit[None, :]])
        rank = int(np.linalg.matrix_rank(span))
        explained = _explained(residual, span)
        if explained <= _chance_fraction(rank, d, noise_z):
            reasons[i] = (
                f"replays the last global step plus noise (cosine {similarity:.2f}, "
                f"{explained:.3f} of the rest in this round's span)"
            )
    return reasons


__all__ = [
    "MIN_RELATIVE_NORM",
    "REPLAY_SIMILARITY",
    "NOISE_Z",
    "REPLICA_SIMILARITY",
    "STALE_SIMILARITY",
    "free_rider_reasons",
    "replica_groups",
]
