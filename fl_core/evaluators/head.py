"""Head-mode evaluation: a coalition is only its head, run on cached sentence embeddings.

The frozen encoder's mean-pooled embeddings come from the task's
:class:`~fl_core.features.FeatureStore` (computed once, cached on disk), so evaluating ``K``
heads is ``K`` small GEMMs -- thousands of times cheaper than the plain path. On the CPU these
run in numpy (too small for torch's thread pool to pay off); on a GPU in torch. One GEMM per
vector, never one over the whole stack: a vector's result must not depend on which vectors
share its call (BLAS may sum in another order for another shape), or a memoised utility
would differ from a recomputed one (e.g. after resuming from a checkpoint) in the last bits.
"""

from __future__ import annotations

import numpy as np
import torch

from fl_core.evaluators.base import EvaluatorInputs, StackEvaluator, UnsupportedModel
from fl_core.evaluators.spec import blocks, blocks_np, head_spec, parameter_names
from fl_core.metrics import Metrics, metrics_of_stack

DEFAULT_MAX_COALITIONS = 256
"""Heads evaluated per call of the inner loop (memory: ``K x N x hidden`` activations)."""


class HeadEvaluator(StackEvaluator):
    """Accuracy and loss of head vectors on cached sentence embeddings (head mode).

    Args:
        inputs: what is evaluated (the model is read, never modified); its features must be
            the split's ``"pooled"`` ones.
        max_coalitions: vectors per inner call.
        device: where the GEMMs run (the CPU: numpy).

    Raises:
        UnsupportedModel: not head-mode features, or a head part other than Linear/ReLU.
    """

    kind = "head"

    def __init__(
        self,
        inputs: EvaluatorInputs,
        *,
        max_coalitions: int = DEFAULT_MAX_COALITIONS,
        device: torch.device | str = "cpu",
    ) -> None:
        model, layout, features = inputs.model, inputs.layout, inputs.features
        if features.kind != "pooled":
            raise UnsupportedModel(f"features: head evaluation needs pooled, not {features.kind}")
        super().__init__(inputs, max_coalitions=max_coalitions)
        self.device = torch.device(device)
        self._steps = head_spec(model.head, layout, parameter_names(model))
        features.ensure(self.indices)
        pooled = features.batch(self.indices).pooled
        assert pooled is not None
        self._pooled_np = pooled.numpy().astype(np.float32)
        self._pooled = pooled.to(self.device)
        self._labels = np.asarray(inputs.labels, dtype=np.int64)[self.indices]

    def _compute(self, vectors: np.ndarray) -> list[Metrics]:
        if self.device.type == "cpu":
            return metrics_of_stack(self._logits_numpy(vectors), self._labels)
        return metrics_of_stack(self._logits_torch(vectors), self._labels)

    def _logits_numpy(self, vectors: np.ndarray) -> np.ndarray:
        """Head logits ``(K, N, C)``; ``np.matmul`` on a 3-D stack is one GEMM per vector."""
        out: np.ndarray | None = None
        for step in self._steps:
            if isinstance(step, str):  # "relu"
                assert out is not None
                out = np.maximum(out, 0.0)
                continue
            w, b = blocks_np(vectors, step[0]), blocks_np(vectors, step[1])
            inputs = self._pooled_np[None] if out is None else out
            out = np.matmul(inputs, w.transpose(0, 2, 1)) + b[:, None, :]
        assert out is not None
        return out.astype(np.float32, copy=False)

    def _logits_torch(self, vectors: np.ndarray) -> np.ndarray:
        """Head logits ``(K, N, C)`` on the device, one vector at a time."""
        stack = torch.from_numpy(vectors).to(self.device)
        rows = []
        with torch.inference_mode():
            for k in range(stack.shape[0]):
                out = self._pooled
                for step in self._steps:
                    if isinstance(step, str):
                        out = torch.relu(out)
                        continue
                    w, b = blocks(stack[k : k + 1], step[0])[0], blocks(stack[k : k + 1], step[1])
                    out = torch.nn.functional.linear(out, w, b[0])
                rows.append(out)
            return torch.stack(rows).cpu().numpy()
