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
from fl_core.evaluators.base import EvaluatorInputs, StackEvaluator, check_option
from fl_core.metrics import Metrics


class PlainEvaluator(StackEvaluator):
    """Accuracy and loss of vectors through the model's forward (modifies its weights).

    Args:
        inputs: what is evaluated, on features of any kind (each evaluated vector is written
            into the model).
        batch_size: examples per forward.
        reason: why the factory fell back to this evaluator (for reports), if it did.
    """

    kind = "plain"

    def __init__(self, inputs: EvaluatorInputs, *, batch_size: int = 64, reason: str = "") -> None:
        super().__init__(inputs, max_coalitions=1)
        self.model = inputs.model
        self.features = inputs.features
        self.labels = np.asarray(inputs.labels)
        self.batch_size = check_option("batch_size", batch_size, 1)
        self.reason = reason

    def _compute(self, vectors: np.ndarray) -> list[Metrics]:
        return [
            evaluate(
                self.model, self.features, self.labels, v, self.indices, batch_size=self.batch_size
            )
            for v in vectors
        ]
