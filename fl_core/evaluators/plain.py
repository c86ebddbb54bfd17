"""The plain evaluator: the model's own forward, one vector at a time (the fallback).

It supports every model the task can build, whatever its parts, at the price of the speed of
the fast paths: each vector is written into the shared model (``set_vector``) and the
model's forward runs on the split's features (cached prefix or embeddings when the task has
them, the whole network on ``"tokens"`` features). Its results are the reference the fast
evaluators are tested against.
"""

from __future__ import annotations

import numpy as np

from fl_core.evaluation import evaluate
from fl_core.evaluators.base import StackEvaluator, check_indices, check_option
from fl_core.features import FeatureStore
from fl_core.metrics import Metrics
from fl_core.model import SentenceClassifier
from fl_core.vector import ParameterLayout


class PlainEvaluator(StackEvaluator):
    """Accuracy and loss of vectors through the model's forward (modifies its weights).

    Args:
        model: the task's classifier; each evaluated vector is written into it.
        layout: the flat vector's layout.
        features: the split's features (any kind).
        labels: labels of the whole split.
        indices: the examples to evaluate on (default: the whole split).
        batch_size: examples per forward.
        reason: why the factory fell back to this evaluator (for reports), if it did.
    """

    kind = "plain"
    max_coalitions = 1

    def __init__(
        self,
        model: SentenceClassifier,
        layout: ParameterLayout,
        features: FeatureStore,
        labels: np.ndarray,
        indices: np.ndarray | None = None,
        *,
        batch_size: int = 64,
        reason: str = "",
    ) -> None:
        self.model = model
        self.features = features
        self.labels = np.asarray(labels)
        self.indices = check_indices(indices, len(features))
        self.size = int(layout.size)
        self.batch_size = check_option("batch_size", batch_size, 1)
        self.reason = reason

    def _compute(self, vectors: np.ndarray) -> list[Metrics]:
        return [
            evaluate(
                self.model, self.features, self.labels, v, self.indices, batch_size=self.batch_size
            )
            for v in vectors
        ]
