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
share) that counts as a replay. Measured on MiniLM head mode (6-10 clients of 300 reviews):
honest updates 0.29-0.46, a stale free rider 1.0, a disguised one with noise as large as the
step 0.69-0.72. A disguised rider with noise over ~1.3x the step passes."""
REPLAY_MARGIN = 0.25
"""The replay threshold is also at least the round's median similarity plus this margin (and
at most 0.99), so that a round where every honest update points along the last step (a
model that only learns the class prior) rejects none of them."""


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


def free_rider_reasons(
    updates: FloatArray,
    last_step: FloatArray | None,
    *,
    own_shares: Sequence[FloatArray | None] | None = None,
    min_relative_norm: float = MIN_RELATIVE_NORM,
    replay_similarity: float = REPLAY_SIMILARITY,
) -> list[str]:
    """Why each update looks like free riding (``""``: it does not).

    Two tests on what the server sees in the clear, against the attacks of Lin et al. 2019
    ("Free-riders in federated learning: attacks and defenses") and Fraboni et al. 2021
    ("Free-rider attacks on model aggregation in federated learning", AISTATS):

    * *empty*: norm below ``min_relative_norm`` x the round's median norm (zero updates, or
      tiny ones whose only effect is to shrink the average step);
    * *replay*: cosine similarity with ``last_step`` (the server's own last global step,
      minus the identity's own FedAvg share of it, ``own_shares[i]``) at least
      ``max(replay_similarity, median + REPLAY_MARGIN)`` capped at 0.99, the median taken
      over the round (stale updates, and stale updates plus noise).

    Args:
        updates: ``(n, d)`` updates of one round.
        last_step: the last global step, or ``None`` in the first round.
        own_shares: per update, its weighted share of ``last_step`` (``None``: none).
    """
    vectors = np.asarray(updates, dtype=np.float64)
    if vectors.ndim != 2 or not np.all(np.isfinite(vectors)):
        raise ValueError("updates must be a finite (n, d) array")
    n = vectors.shape[0]
    shares = [None] * n if own_shares is None else list(own_shares)
    if len(shares) != n:
        raise ValueError(f"own_shares must have {n} entries")
    norms = np.linalg.norm(vectors, axis=1)
    median = float(np.median(norms))
    reasons = [""] * n
    for i in range(n):
        if norms[i] <= min_relative_norm * median or norms[i] == 0:
            reasons[i] = f"empty update (norm {norms[i]:.3g}, round median {median:.3g})"
    if last_step is None:
        return reasons
    similarity = np.zeros(n)
    for i in range(n):
        step = np.asarray(last_step, dtype=np.float64)
        if shares[i] is not None:
            step = step - np.asarray(shares[i], dtype=np.float64)
        scale = float(np.linalg.norm(step)) * norms[i]
        similarity[i] = float(vectors[i] @ step) / scale if scale > 0 else 0.0
    threshold = min(max(replay_similarity, float(np.median(similarity)) + REPLAY_MARGIN), 0.99)
    for i in range(n):
        if not reasons[i] and similarity[i] >= threshold:
            reasons[i] = f"replays the last global step (cosine {similarity[i]:.2f})"
    return reasons


__all__ = [
    "MIN_RELATIVE_NORM",
    "REPLAY_MARGIN",
    "REPLAY_SIMILARITY",
    "REPLICA_SIMILARITY",
    "free_rider_reasons",
    "replica_groups",
]
