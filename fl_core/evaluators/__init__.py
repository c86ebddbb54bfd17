"""Coalition evaluators: accuracy and loss of many trainable vectors, behind one protocol.

:class:`VectorEvaluator` is the protocol (``evaluate(vector)``, ``evaluate_many(vectors)``,
``n_examples``); :func:`make_evaluator` returns the fastest implementation that supports the
model -- :class:`HeadEvaluator` (head mode), :class:`SuffixEvaluator` (LoRA mode, cached
frozen prefix) or, where neither applies, :class:`PlainEvaluator` (the model's own forward)
-- wrapped in a :class:`MemoEvaluator`. It never returns ``None``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fl_core.classifier import SentenceClassifier
from fl_core.evaluators.base import (
    EvaluatorInputs,
    UnsupportedModel,
    VectorEvaluator,
    check_option,
    vector_digest,
)
from fl_core.evaluators.head import HeadEvaluator
from fl_core.evaluators.memo import DEFAULT_MEMO_SIZE, MemoEvaluator
from fl_core.evaluators.plain import PlainEvaluator
from fl_core.evaluators.suffix import (
    DEFAULT_BATCH_TOKENS,
    PROJECTION_CACHE_BYTES,
    SuffixEvaluator,
)
from fl_core.features import FeatureStore
from fl_core.vector import ParameterLayout

__all__ = [
    "EvaluatorInputs",
    "HeadEvaluator",
    "MemoEvaluator",
    "PlainEvaluator",
    "SuffixEvaluator",
    "UnsupportedModel",
    "VectorEvaluator",
    "make_evaluator",
    "vector_digest",
]


def make_evaluator(
    model: SentenceClassifier,
    layout: ParameterLayout,
    features: FeatureStore,
    labels: np.ndarray,
    indices: np.ndarray | None = None,
    *,
    memo_size: int = DEFAULT_MEMO_SIZE,
    max_coalitions: int | None = None,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    projection_cache_bytes: int = PROJECTION_CACHE_BYTES,
    workers: int | None = None,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> MemoEvaluator:
    """The fastest evaluator for ``features``' kind, memoised; the plain one as fallback.

    Args:
        model, layout, features, labels, indices: what is evaluated, on which examples.
        memo_size: results remembered by vector digest (0: none).
        max_coalitions: vectors per inner call (default: 256 heads, 1 LoRA vector).
        batch_tokens, projection_cache_bytes, workers: LoRA-mode options
            (:class:`SuffixEvaluator`).
        batch_size: examples per forward of the plain evaluator.
        device: where the fast evaluators compute.

    Returns:
        A :class:`MemoEvaluator`; its ``kind`` says which evaluator computes (``"head"``,
        ``"suffix"`` or ``"plain"``) and, for ``"plain"``, ``inner.reason`` why.

    Raises:
        ValueError: a bad option (one line naming it).
    """
    if max_coalitions is not None:
        check_option("max_coalitions", max_coalitions, 1)
    check_option("batch_tokens", batch_tokens, 1)
    if workers is not None:
        check_option("workers", workers, 1)
    check_option("memo_size", memo_size, 0)
    inputs = EvaluatorInputs(model, layout, features, labels, indices)
    # each evaluator has its own default for max_coalitions: pass it only when given
    limit: dict[str, Any] = {} if max_coalitions is None else {"max_coalitions": max_coalitions}
    inner: VectorEvaluator
    try:
        if features.kind == "pooled":
            inner = HeadEvaluator(inputs, device=device, **limit)
        else:
            inner = SuffixEvaluator(
                inputs,
                batch_tokens=batch_tokens,
                projection_cache_bytes=projection_cache_bytes,
                workers=workers,
                device=device,
                **limit,
            )
    except UnsupportedModel as reason:
        inner = PlainEvaluator(inputs, batch_size=batch_size, reason=str(reason))
    return MemoEvaluator(inner, memo_size)
