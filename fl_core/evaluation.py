"""Accuracy and cross-entropy of a trainable vector on a cached split (the model's forward)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fl_core.classifier import SentenceClassifier
from fl_core.features import FeatureStore
from fl_core.metrics import Metrics
from fl_core.vector import set_vector

__all__ = ["Metrics", "evaluate", "metrics_from_logits", "predict_logits"]


def predict_logits(
    model: SentenceClassifier, features: FeatureStore, indices: np.ndarray, batch_size: int = 64
) -> torch.Tensor:
    """Logits for the given examples under the model's current weights (eval mode)."""
    model.eval()
    indices = np.asarray(indices, dtype=np.int64)
    # length-sorted batches trim padding; results are put back in the caller's order
    perm = np.arange(len(indices))
    if features.kind != "pooled":
        perm = np.argsort(features.lengths[indices].numpy(), kind="stable")
    order = indices[perm]
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            outputs.append(features.batch(order[start : start + batch_size]).logits(model))
    logits = torch.cat(outputs).cpu()
    restore = np.argsort(perm, kind="stable")
    return logits[torch.from_numpy(restore)]


def metrics_from_logits(logits: torch.Tensor, labels: np.ndarray) -> Metrics:
    target = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    per_example = nn.functional.cross_entropy(logits, target, reduction="none")
    hits = logits.argmax(1) == target
    return Metrics(
        accuracy=float(hits.double().mean()),
        loss=float(nn.functional.cross_entropy(logits, target)),
        n=len(target),
        example_losses=per_example.numpy().astype(np.float32),
        example_correct=hits.numpy().copy(),
    )


def evaluate(
    model: SentenceClassifier,
    features: FeatureStore,
    labels: np.ndarray,
    vector: np.ndarray,
    indices: np.ndarray | None = None,
    batch_size: int = 64,
) -> Metrics:
    """Metrics of ``vector`` on ``indices`` (default: the whole split)."""
    set_vector(model, vector)
    idx = np.arange(len(features)) if indices is None else np.asarray(indices)
    logits = predict_logits(model, features, idx, batch_size)
    return metrics_from_logits(logits, np.asarray(labels)[idx])
