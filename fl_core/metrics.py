"""Evaluation results, and cross-entropy/accuracy from logits (pure numpy, torch-free)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Metrics:
    """Accuracy and mean cross-entropy of one model on ``n`` examples.

    ``example_losses`` (float32, one cross-entropy per example, in the evaluated order) is
    kept where the evaluator computes it: a valuation's standard error over the validation
    examples needs it (:meth:`fl_core.utility.CoalitionUtility.example_values`). It takes no
    part in equality.
    """

    accuracy: float
    loss: float
    n: int
    example_losses: np.ndarray | None = field(default=None, compare=False, repr=False)
    example_correct: np.ndarray | None = field(default=None, compare=False, repr=False)


def metrics_of_stack(logits: np.ndarray, labels: np.ndarray) -> list[Metrics]:
    """Mean cross-entropy (float64) and accuracy of each of ``K`` logit stacks ``(K, N, C)``."""
    logits64 = logits.astype(np.float64)
    top = logits64.max(axis=2, keepdims=True)
    lse = top[..., 0] + np.log(np.exp(logits64 - top).sum(axis=2))
    picked = np.take_along_axis(logits64, labels[None, :, None], axis=2)[..., 0]
    per_example = lse - picked
    losses = per_example.mean(axis=1)
    hits = logits.argmax(axis=2) == labels[None, :]
    correct = hits.mean(axis=1)
    n = int(labels.shape[0])
    return [
        Metrics(
            accuracy=float(a),
            loss=float(loss),
            n=n,
            example_losses=per_example[k].astype(np.float32),
            example_correct=hits[k].copy(),
        )
        for k, (a, loss) in enumerate(zip(correct, losses, strict=True))
    ]
