"""Evaluation results, and cross-entropy/accuracy from logits (pure numpy, torch-free)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metrics:
    """Accuracy and mean cross-entropy of one model on ``n`` examples."""

    accuracy: float
    loss: float
    n: int


def metrics_of_stack(logits: np.ndarray, labels: np.ndarray) -> list[Metrics]:
    """Mean cross-entropy (float64) and accuracy of each of ``K`` logit stacks ``(K, N, C)``."""
    logits64 = logits.astype(np.float64)
    top = logits64.max(axis=2, keepdims=True)
    lse = top[..., 0] + np.log(np.exp(logits64 - top).sum(axis=2))
    picked = np.take_along_axis(logits64, labels[None, :, None], axis=2)[..., 0]
    losses = (lse - picked).mean(axis=1)
    correct = (logits.argmax(axis=2) == labels[None, :]).mean(axis=1)
    n = int(labels.shape[0])
    return [
        Metrics(accuracy=float(a), loss=float(loss), n=n)
        for a, loss in zip(correct, losses, strict=True)
    ]
