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
MAX_SPAN = 64
"""Most directions the noise test compares a residual with (and at most a quarter of ``d``).
With at most this many other updates the span is theirs (left out: the update itself);
with more, it is the round's principal directions that stand above the noise bulk, at most
this many. Without the cap the span of ``d`` or more updates is all of ``R^d``, where noise
and work look alike (chance fraction 1). Measured on round 2 of ``python -m bench.scale
--participants 10000`` (1,878 MiniLM head updates): 64 directions above the edge, and with
every update made a candidate (``replay_similarity = -1``) none of the 1,878 residuals was
noise-like."""


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


def _principal_basis(rows: FloatArray, unit: FloatArray, limit: int) -> FloatArray:
    """Orthonormal rows: the principal directions of ``rows`` off ``unit`` that stand above
    the noise bulk, at most ``limit``.

    Each row is projected off ``unit`` and scaled to norm 1; a direction is kept when its
    eigenvalue of ``X^T X`` exceeds by more than 1 the Marchenko-Pastur edge
    ``(sqrt(m) + sqrt(d-1))^2 / (d-1)`` that ``m`` isotropic unit rows reach (the spiked
    model, Johnstone 2001, "On the distribution of the largest eigenvalue in principal
    components analysis"). One unit row moves any eigenvalue by at most 1 (Weyl), so every
    kept direction stands above the noise without the update tested: none vouches for
    itself, which the leave-one-out span guarantees for small rounds. (Without the margin,
    MiniLM rounds of 10 updates forced onto this path let the disguised rider through.)
    """
    off = rows - np.outer(rows @ unit, unit)
    lengths = np.linalg.norm(off, axis=1)
    off = off[lengths > 0] / lengths[lengths > 0, None]
    m, dim = off.shape[0], rows.shape[1] - 1
    if m == 0 or dim <= 0:
        return np.zeros((0, rows.shape[1]))
    values, vectors = np.linalg.eigh(off.T @ off)
    edge = (np.sqrt(m) + np.sqrt(dim)) ** 2 / dim
    order = np.argsort(values)[::-1][:limit]
    order = order[values[order] > edge + 1.0]
    return np.ascontiguousarray(vectors[:, order].T)


def _cosines(
    vectors: FloatArray, norms: FloatArray, step: FloatArray, shares: Sequence[FloatArray | None]
) -> tuple[FloatArray, list[FloatArray | None]]:
    """Each update's cosine with ``step`` less its own share, and that unit step (``None``:
    the step less the share is zero)."""
    cosines = np.zeros(vectors.shape[0])
    units: list[FloatArray | None] = []
    for i, share in enumerate(shares):
        own = step if share is None else step - np.asarray(share, dtype=np.float64)
        length = float(np.linalg.norm(own))
        units.append(own / length if length > 0 else None)
        if length > 0 and norms[i] > 0:
            cosines[i] = float(vectors[i] @ own) / (length * norms[i])
    return cosines, units


def free_rider_reasons(
    updates: FloatArray,
    last_step: FloatArray | None,
    *,
    own_shares: Sequence[FloatArray | None] | None = None,
    min_relative_norm: float = MIN_RELATIVE_NORM,
    replay_similarity: float = REPLAY_SIMILARITY,
    stale_similarity: float = STALE_SIMILARITY,
    noise_z: float = NOISE_Z,
    max_span: int = MAX_SPAN,
) -> list[str]:
    """Why each update looks like free riding (``""``: it does not).

    Free riders in FL submit updates that carry no local training (Fraboni, Vidal & Lorenzi
    2021, "Free-rider attacks on model aggregation in federated learning", AISTATS). Two
    screens:

    * *empty*: norm at most ``min_relative_norm`` x the round's median norm (zero updates,
      tiny ones that only shrink the average step, and a tiny copy of any public direction,
      such as an older global step, that would pass the replay test);
    * *replay*: cosine similarity ``c`` with ``last_step`` (the server's own last global step
      minus the identity's own FedAvg share of it, ``own_shares[i]``) at least
      ``stale_similarity``, or at least ``replay_similarity`` while the update's residual
      off that step is noise: the fraction of the residual's energy in the round's span is
      within ``noise_z`` standard deviations of what isotropic noise puts there (see
      :data:`NOISE_Z`). The span: the other non-empty updates and the step while there are
      at most ``min(max_span, d // 4)`` others; beyond, the round's principal directions
      off the last step above the noise bulk (:func:`_principal_basis`), computed once.

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
    relative norm measured was 0.19 on MiniLM (a 2-step client on the 66-parameter tiny head
    reached 0.04 and is flagged). Riders that collude, adding noise drawn from one shared
    subspace, make that subspace a principal direction and pass; an adaptive rider that
    builds its update from older global steps at full size is not covered.

    Args:
        updates: ``(n, d)`` updates of one round.
        last_step: the last global step, or ``None`` in the first round.
        own_shares: per update, its weighted share of ``last_step`` (``None``: none).
        min_relative_norm: the empty-update threshold relative to the round's median norm.
        replay_similarity: the least cosine at which a noise-like residual is a replay.
        stale_similarity: the cosine at which an update is a replay whatever it adds.
        noise_z: standard deviations above chance a residual's explained fraction must reach.
        max_span: the most directions a residual is compared with (see :data:`MAX_SPAN`).
    """
    vectors = np.asarray(updates, dtype=np.float64)
    if vectors.ndim != 2 or not np.all(np.isfinite(vectors)):
        raise ValueError("updates must be a finite (n, d) array")
    if max_span < 1:
        raise ValueError(f"max_span must be a positive integer, got {max_span}")
    n, d = vectors.shape
    shares = [None] * n if own_shares is None else list(own_shares)
    if len(shares) != n:
        raise ValueError(f"own_shares must have {n} entries")
    norms = np.linalg.norm(vectors, axis=1)
    median = float(np.median(norms))
    reasons = [""] * n
    for i in np.flatnonzero((norms <= min_relative_norm * median) | (norms == 0)).tolist():
        reasons[i] = f"empty update (norm {norms[i]:.3g}, round median {median:.3g})"
    step = None if last_step is None else np.asarray(last_step, dtype=np.float64)
    if step is None or not np.any(step):
        return reasons
    cosines, units = _cosines(vectors, norms, step, shares)
    for i in range(n):
        if not reasons[i] and cosines[i] >= stale_similarity:
            reasons[i] = f"replays the last global step (cosine {cosines[i]:.2f})"
    candidates = [i for i in range(n) if not reasons[i] and cosines[i] >= replay_similarity]
    if not candidates:
        return reasons
    limit = max(1, min(max_span, d // 4))
    live = np.flatnonzero(norms > 0)
    shared: FloatArray | None = None
    if len(live) - 1 > limit:  # one basis for the round
        kept = np.array([not r for r in reasons])  # the candidates and the other clean ones
        shared = _principal_basis(vectors[kept], step / np.linalg.norm(step), limit)
    for i in candidates:
        unit = units[i]
        if unit is None:  # the step less the share is zero: nothing to replay
            continue
        residual = vectors[i] - (vectors[i] @ unit) * unit
        residual -= (residual @ unit) * unit  # once more against rounding
        if shared is None:
            span = np.vstack([vectors[live[live != i]], unit[None, :]])
            rank, dim = int(np.linalg.matrix_rank(span)), d
            explained = _explained(residual, span)
        else:
            inside = shared @ residual
            rank, dim = shared.shape[0], d - 1
            explained = float(inside @ inside) / float(residual @ residual)
        if explained <= _chance_fraction(rank, dim, noise_z):
            reasons[i] = (
                f"replays the last global step plus noise (cosine {cosines[i]:.2f}, "
                f"{explained:.3f} of the rest in this round's span)"
            )
    return reasons


__all__ = [
    "MAX_SPAN",
    "MIN_RELATIVE_NORM",
    "REPLAY_SIMILARITY",
    "NOISE_Z",
    "REPLICA_SIMILARITY",
    "STALE_SIMILARITY",
    "free_rider_reasons",
    "replica_groups",
]
