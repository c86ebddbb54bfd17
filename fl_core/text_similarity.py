"""How close synthetic texts are to real ones, and to the examples they were prompted with.

On fixed embeddings (rows of ``x`` and ``y``):

* :func:`mmd2`: the unbiased squared maximum mean discrepancy with a Gaussian kernel whose
  bandwidth is the median pairwise distance of the pooled sample (Gretton et al. 2012, JMLR
  13); about 0 for two samples of one distribution, negative values are sampling noise.
* :func:`two_sample_auc`: the classifier two-sample test (Lopez-Paz and Oquab 2017, ICLR):
  a linear probe's cross-validated AUC at telling ``x`` from ``y``; 0.5 for one
  distribution, 1 for separable ones.
* :func:`mauve`: MAUVE (Pillutla et al. 2021, NeurIPS) from the ``mauve-text`` package on
  the given features (no model download); NaN when the package is not installed.
* :func:`nearest_similarity`: each query's highest cosine similarity to a reference set
  (copying distance: synthetic texts to the shown examples against other real texts).
* :func:`membership_auc`: a membership-inference attack on the prompt's examples: a
  candidate's score is its nearest similarity to the released synthetic texts; AUC of the
  members (examples shown to the generator) against non-members from the same
  distribution (Carlini et al. 2021 measure extraction this way; 0.5: no leak).

:func:`rank_auc` is the Mann-Whitney AUC with ties counted half.
"""

from __future__ import annotations

import numpy as np

from fl_core.linear_probe import fit_probe


def _rows(name: str, x: np.ndarray, least: int = 1) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < least or not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name}: needs a finite 2-d array with at least {least} rows, got shape {arr.shape}"
        )
    return arr


def rank_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + 0.5 P(tie)."""
    from scipy.stats import rankdata

    pos = np.asarray(positive, dtype=np.float64).ravel()
    neg = np.asarray(negative, dtype=np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        raise ValueError(f"scores: need both classes, got {pos.size} and {neg.size}")
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0.0)


def median_bandwidth(x: np.ndarray, y: np.ndarray) -> float:
    """Median pairwise Euclidean distance of the pooled sample (off the diagonal)."""
    pooled = np.concatenate([_rows("x", x), _rows("y", y)])
    d = _sq_distances(pooled, pooled)
    upper = d[np.triu_indices(len(pooled), k=1)]
    return float(np.sqrt(np.median(upper))) if upper.size else 1.0


def mmd2(x: np.ndarray, y: np.ndarray, bandwidth: float | None = None) -> float:
    """Unbiased MMD^2 between the rows of ``x`` and ``y`` (Gaussian kernel).

    ``bandwidth``: the kernel's sigma; ``None``: :func:`median_bandwidth` of the pooled rows.
    """
    a, b = _rows("x", x, 2), _rows("y", y, 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"y: has {b.shape[1]} columns, x has {a.shape[1]}")
    sigma = median_bandwidth(a, b) if bandwidth is None else float(bandwidth)
    if not sigma > 0:
        raise ValueError(f"bandwidth: must be positive, got {sigma!r}")
    gamma = 1.0 / (2 * sigma * sigma)
    kxx = np.exp(-gamma * _sq_distances(a, a))
    kyy = np.exp(-gamma * _sq_distances(b, b))
    kxy = np.exp(-gamma * _sq_distances(a, b))
    n, m = len(a), len(b)
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(xx + yy - 2 * kxy.mean())


def two_sample_auc(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, folds: int = 5, l2: float = 1e-2
) -> float:
    """Cross-validated AUC of a linear probe telling rows of ``y`` (positive) from ``x``.

    Each row is scored by the probe fitted on the other folds (stratified, shuffled by
    ``rng``); the AUC is computed on all out-of-fold scores.
    """
    a, b = _rows("x", x, folds), _rows("y", y, folds)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"y: has {b.shape[1]} columns, x has {a.shape[1]}")
    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds: must be an integer >= 2, got {folds!r}")
    features = np.concatenate([a, b])
    labels = np.concatenate([np.zeros(len(a), np.int64), np.ones(len(b), np.int64)])
    fold = np.empty(len(labels), dtype=np.int64)
    for cls in (0, 1):
        members = np.flatnonzero(labels == cls)
        fold[rng.permutation(members)] = np.arange(len(members)) % folds
    scores = np.empty(len(labels))
    for k in range(folds):
        test = fold == k
        probe = fit_probe(features[~test], labels[~test], 2, l2=l2)
        scores[test] = probe.logits(features[test]) @ np.array([-1.0, 1.0])
    return rank_auc(scores[labels == 1], scores[labels == 0])


def mauve(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> float:
    """MAUVE between the feature rows ``x`` (reference) and ``y``; NaN without ``mauve-text``.

    Histograms of ``max(2, (len(x) + len(y)) // 10)`` k-means clusters, as the package's
    ``num_buckets="auto"``; 1 for one distribution, towards 0 for disjoint ones.
    """
    a, b = _rows("x", x, 2), _rows("y", y, 2)
    try:
        import mauve as mauve_text
    except ImportError:
        return float("nan")
    out = mauve_text.compute_mauve(
        p_features=a,
        q_features=b,
        num_buckets=max(2, (len(a) + len(b)) // 10),
        seed=seed,
        verbose=False,
        kmeans_num_redo=2,
    )
    return float(out.mauve)


def nearest_similarity(queries: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Each query row's highest cosine similarity to a row of ``refs``."""
    q, r = _rows("queries", queries), _rows("refs", refs)
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    rn = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
    return np.asarray((qn @ rn.T).max(axis=1))


def membership_auc(members: np.ndarray, nonmembers: np.ndarray, released: np.ndarray) -> float:
    """AUC of the nearest-released-text similarity of members against non-members."""
    return rank_auc(nearest_similarity(members, released), nearest_similarity(nonmembers, released))
