"""A multinomial logistic regression on fixed features (a linear head on frozen embeddings).

Full-batch L-BFGS in float64 on the L2-penalised mean cross-entropy, from zero weights: a
convex problem with one optimum, so the fit is deterministic and needs no seed (what head
mode trains, run to convergence; Alain and Bengio 2016, "linear probes"). Used by the
synthetic-data experiment as the reference classifier of the filter, the independent judge
of usability, the two-sample test's classifier and the train-on-synthetic model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_L2 = 1e-3


@dataclass(frozen=True)
class LinearProbe:
    """Weights ``(d, k)`` and bias ``(k,)`` of a fitted probe."""

    weights: np.ndarray
    bias: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.weights + self.bias

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.logits(x).argmax(axis=1), dtype=np.int64)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(x) == np.asarray(y)))


def fit_probe(
    x: np.ndarray, y: np.ndarray, n_classes: int, *, l2: float = DEFAULT_L2, max_iter: int = 200
) -> LinearProbe:
    """Fit ``softmax(x W + b)`` to labels ``y`` in ``[0, n_classes)``.

    Raises:
        ValueError: one line naming the field: no rows, rows and labels differ, a label out
            of range, a negative ``l2``.
    """
    import torch

    features = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"x: needs a non-empty 2-d array, got shape {features.shape}")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"y: {labels.size} labels for {features.shape[0]} rows; give one each")
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes: must be an integer >= 2, got {n_classes!r}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"y: labels must be in [0, {n_classes - 1}]")
    if not l2 >= 0:
        raise ValueError(f"l2: must be >= 0, got {l2!r}")
    xt = torch.from_numpy(features)
    yt = torch.from_numpy(labels)
    w = torch.zeros((features.shape[1], n_classes), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return LinearProbe(w.detach().numpy().copy(), b.detach().numpy().copy())
