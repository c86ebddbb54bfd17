"""Replica groups: identities whose updates are near-identical, paid as one owner.

An attacker that trains once and submits the same update under several identities (or the
same update plus small noise) is found by the pairwise cosine similarity of the updates, as
FoolsGold does for Sybil clients (Fung, Yoon & Beschastnikh 2020, "The limitations of
federated learning in sybil settings", RAID). Honest clients train on different data, so
their updates differ far more than ``1 - threshold`` in cosine distance.
"""

from __future__ import annotations

import numpy as np

from market.types import FloatArray, IntArray

REPLICA_SIMILARITY = 0.995
"""Cosine similarity at or above which two updates count as replicas of one training run."""


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
    n = vectors.shape[0]
    norms = np.linalg.norm(vectors, axis=1)
    unit = np.divide(vectors, norms[:, None], out=np.zeros_like(vectors), where=norms[:, None] > 0)
    close = (unit @ unit.T >= threshold - 1e-12) & (norms[:, None] > 0) & (norms[None, :] > 0)
    labels = np.arange(n, dtype=np.int64)
    changed = True
    while changed:  # label propagation to the smallest member of each component
        spread = np.where(close, labels[None, :], n).min(axis=1)
        new = np.minimum(labels, spread)
        changed = bool(np.any(new != labels))
        labels = new
    return labels


__all__ = ["REPLICA_SIMILARITY", "replica_groups"]
