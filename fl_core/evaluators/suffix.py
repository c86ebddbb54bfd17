"""LoRA-mode evaluation: only the adapted suffix runs, on the cached frozen prefix.

Shapley-style scoring evaluates many models that share everything but their trainable vector
(GTG-Shapley's authors, Liu et al. 2022, found 98.5% of their runtime in these evaluations).
:class:`SuffixEvaluator` reuses every piece of work that does not depend on the vector:

* **frozen prefix** (exact): the hidden states entering the first adapted layer come from
  the task's :class:`~fl_core.features.FeatureStore`, computed once per run;
* **frozen projections** (exact): in the first adapted layer the input is frozen and so are
  the base weights, so ``x W^T + b`` of query, key and value is computed once per evaluator;
  a vector only adds its low-rank LoRA term ``s (x A^T) B^T``;
* **merged LoRA** (exact): past the first adapted layer each vector's adapters are merged
  into its weights, ``W + s B A`` (one GEMM per projection instead of three);
* **stacked coalitions** (exact, off by default): ``K`` vectors share the frozen matmuls;
  measured *not* faster on the 2-core CPU (``bench/utility.py``), and with ``K > 1`` a
  vector's result matches its ``K = 1`` result to float rounding only, not bitwise;
* **independent workers** (exact): the (vector, example batch) pairs of a call are spread
  over one single-threaded torch worker per core instead of splitting every op across
  threads (CPU only);
* **token-budget batches** (exact): examples sorted by length, about ``batch_tokens``
  tokens per batch, so little padding is computed.

"Exact" means the arithmetic of the peft forward in eval mode, up to float summation order
(tested to 1e-5 in loss against the plain peft forward). The shared model is never modified.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812 (the conventional torch alias)

from fl_core.classifier import additive_mask
from fl_core.evaluators.base import (
    EvaluatorInputs,
    StackEvaluator,
    UnsupportedModel,
    Vectors,
    as_stack,
    check_option,
)
from fl_core.evaluators.spec import (
    HeadStep,
    LayerSpec,
    LinearSpec,
    blocks,
    head_spec,
    layer_spec,
    parameter_names,
)
from fl_core.features import FeatureStore
from fl_core.metrics import Metrics, metrics_of_stack

DEFAULT_BATCH_TOKENS = 1024
"""Tokens per example batch (examples x the longest length in the batch). Measured on the
2-core CPU (``bench/utility.py``): 512-1024 beat 2048-4096 by 1.2-1.7x (less padding, and the
activations stay in cache)."""

DEFAULT_MAX_COALITIONS = 1
"""One vector per forward: bitwise independent of the company (see the module docstring)."""

PROJECTION_CACHE_BYTES = 256 * 2**20
"""Largest cache of first-layer projections kept per evaluator (else they are recomputed)."""


@dataclass(frozen=True)
class _Batch:
    """One length-sorted batch of the evaluated examples (on the evaluator's device)."""

    hidden: torch.Tensor  # (B, T, H) frozen prefix states
    mask: torch.Tensor  # (B, T) attention mask
    additive: torch.Tensor  # (B, 1, 1, T)
    labels: np.ndarray  # (B,)
    projections: dict[str, torch.Tensor]  # first layer: frozen x W^T + b, (1, B*T, out)


class SuffixEvaluator(StackEvaluator):
    """Accuracy and loss of LoRA vectors from the cached frozen prefix (LoRA mode).

    Args:
        inputs: what is evaluated (the model is read, never modified); its features must be
            the split's ``"hidden"`` ones.
        batch_tokens: tokens per example batch.
        max_coalitions: vectors per stacked forward.
        projection_cache_bytes: cap on the cached first-layer projections.
        workers: CPU example-batch workers, each running torch on one thread (default:
            torch's thread count); on the shared 2-core machine the intra-op pool's
            barriers cost more than the math whenever other processes take a core.
        device: where the suffix runs (frozen weights and cached batches are moved there).

    Raises:
        UnsupportedModel: not ``"hidden"`` features, or a part this path does not implement.
    """

    kind = "suffix"

    def __init__(
        self,
        inputs: EvaluatorInputs,
        *,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        max_coalitions: int = DEFAULT_MAX_COALITIONS,
        projection_cache_bytes: int = PROJECTION_CACHE_BYTES,
        workers: int | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        model, layout, features = inputs.model, inputs.layout, inputs.features
        if features.kind != "hidden":
            raise UnsupportedModel(
                f"features: the suffix path needs cached hidden states, not {features.kind!r}"
            )
        check_option("batch_tokens", batch_tokens, 1)
        super().__init__(inputs, max_coalitions=max_coalitions)
        self.workers = None if workers is None else check_option("workers", workers, 1)
        self.device = torch.device(device)
        names = parameter_names(model)
        self._head: list[HeadStep] = head_spec(model.head, layout, names)
        bert = model.bert
        if not hasattr(bert, "encoder"):  # a causal backbone: the plain evaluator runs it
            raise UnsupportedModel("model.backbone: the suffix path runs BERT encoder layers only")
        first = int(model.first_trainable_layer)
        self._layers: list[LayerSpec] = [
            layer_spec(layer, layout, names, self.device) for layer in bert.encoder.layer[first:]
        ]
        if not self._layers:
            raise UnsupportedModel("model: no trainable encoder layer (use head mode)")
        features.ensure(self.indices)
        lengths = features.lengths[torch.from_numpy(self.indices)].numpy()
        order = np.argsort(lengths, kind="stable")
        width = int(bert.config.hidden_size)
        cache = 3 * width * 4 * int(lengths.sum()) <= projection_cache_bytes
        labels_all = np.asarray(inputs.labels, dtype=np.int64)
        self._batches: list[_Batch] = []
        start = 0
        while start < len(order):  # ascending lengths: a batch's width is its last length
            stop = start + 1
            while stop < len(order) and (stop + 1 - start) * int(lengths[order[stop]]) <= (
                batch_tokens
            ):
                stop += 1
            chosen = self.indices[order[start:stop]]
            self._batches.append(self._make_batch(features, chosen, labels_all[chosen], cache))
            start = stop
        self._labels = np.concatenate([batch.labels for batch in self._batches])

    def _make_batch(
        self, features: FeatureStore, chosen: np.ndarray, labels: np.ndarray, cache: bool
    ) -> _Batch:
        batch = features.batch(chosen)
        assert batch.hidden is not None and batch.mask is not None
        hidden = batch.hidden.to(self.device)  # an index copy already (advanced indexing)
        mask = batch.mask.to(self.device)
        projections: dict[str, torch.Tensor] = {}
        if cache:
            flat = hidden.reshape(1, -1, hidden.shape[-1])
            with torch.inference_mode():
                for name in ("query", "key", "value"):
                    spec: LinearSpec = getattr(self._layers[0], name)
                    projections[name] = F.linear(flat, spec.weight, spec.bias)
        return _Batch(hidden, mask, additive_mask(mask, hidden.dtype), labels, projections)

    def _compute(self, vectors: np.ndarray) -> list[Metrics]:
        return self._metrics_of_chunks([vectors])[0]

    def evaluate_many(self, vectors: Vectors) -> list[Metrics]:
        """Metrics of each vector, ``max_coalitions`` at a time; on the CPU every (vectors,
        example batch) pair is one task for the workers, so that they share the work of all
        the vectors evenly (a vector's numbers are those of its own call: same tasks)."""
        stack = as_stack(vectors, self.size)
        step = self.max_coalitions
        chunks = [stack[start : start + step] for start in range(0, len(stack), step)]
        return [m for metrics in self._metrics_of_chunks(chunks) for m in metrics]

    def _metrics_of_chunks(self, chunks: list[np.ndarray]) -> list[list[Metrics]]:
        stacks = [torch.from_numpy(chunk).to(self.device) for chunk in chunks]
        tasks = [(stack, batch) for stack in stacks for batch in self._batches]

        def run(task: tuple[torch.Tensor, _Batch]) -> np.ndarray:
            with torch.inference_mode():  # thread-local: entered in each worker
                return self._suffix(*task).cpu().numpy()

        threads = torch.get_num_threads()
        workers = min(self.workers or threads, len(tasks))
        if workers <= 1 or self.device.type != "cpu":
            parts = [run(task) for task in tasks]
        else:
            # one single-threaded worker per core, each on its own example batches: no
            # thread-pool barrier per op (see ``workers`` in the class docstring)
            torch.set_num_threads(1)
            try:
                with ThreadPoolExecutor(workers) as pool:
                    parts = list(pool.map(run, tasks))
            finally:
                torch.set_num_threads(threads)
        per_chunk = len(self._batches)
        return [
            metrics_of_stack(np.concatenate(parts[at : at + per_chunk], axis=1), self._labels)
            for at in range(0, len(parts), per_chunk)
        ]

    def _head_torch(self, stack: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        out = pooled  # (K, B, H)
        for step in self._head:
            if isinstance(step, str):  # "relu"
                out = torch.relu(out)
                continue
            w, b = blocks(stack, step[0]), blocks(stack, step[1])
            out = torch.baddbmm(b[:, None, :], out, w.transpose(1, 2))
        return out

    @staticmethod
    def _linear(
        h: torch.Tensor,
        spec: LinearSpec,
        stack: torch.Tensor,
        *,
        shared: bool = False,
        base: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(Kh, N, in) -> (K or Kh, N, out)``: frozen part once, LoRA part per vector.

        A shared input (``Kh = 1``) keeps the frozen product ``x W^T + b`` (given as ``base``
        when cached) and adds each vector's low-rank term ``s (x A^T) B^T``; a per-vector
        input uses the merged weight ``W + s B A`` (one GEMM instead of three).
        """
        if spec.lora_a is None or spec.lora_b is None:
            return F.linear(h, spec.weight, spec.bias) if base is None else base
        a = blocks(stack, spec.lora_a)  # (K, r, in)
        b = blocks(stack, spec.lora_b)  # (K, out, r)
        if shared:
            out = F.linear(h, spec.weight, spec.bias) if base is None else base
            low = torch.matmul(h, a.transpose(1, 2))  # (K, N, r)
            return torch.baddbmm(out, low, b.transpose(1, 2), alpha=spec.scaling)
        merged = torch.baddbmm(spec.weight, b, a, alpha=spec.scaling)  # (K, out, in)
        if h.shape[0] == 1:
            return F.linear(h[0], merged[0], spec.bias)[None]
        out = torch.bmm(h, merged.transpose(1, 2))
        return out if spec.bias is None else out + spec.bias

    def _suffix(self, stack: torch.Tensor, batch: _Batch) -> torch.Tensor:
        """Logits ``(K, B, C)`` of the trainable suffix for ``K`` stacked vectors."""
        k = stack.shape[0]
        b, t, width = batch.hidden.shape
        h = batch.hidden.reshape(1, b * t, width)  # shared by all K until it first differs
        mask = batch.additive.repeat(k, 1, 1, 1)
        linear = self._linear
        for depth, layer in enumerate(self._layers):
            cached = batch.projections if depth == 0 else {}
            shared = depth == 0
            q = linear(h, layer.query, stack, shared=shared, base=cached.get("query"))
            key = linear(h, layer.key, stack, shared=shared, base=cached.get("key"))
            v = linear(h, layer.value, stack, shared=shared, base=cached.get("value"))

            def heads(x: torch.Tensor, layer: LayerSpec = layer) -> torch.Tensor:
                x = x.expand(k, -1, -1) if x.shape[0] != k else x
                return x.reshape(k * b, t, layer.heads, layer.head_size).transpose(1, 2)

            context = F.scaled_dot_product_attention(
                heads(q), heads(key), heads(v), attn_mask=mask, dropout_p=0.0, scale=layer.scale
            )
            context = context.transpose(1, 2).reshape(k, b * t, width)
            attended = layer.norm_attention(linear(context, layer.attention_out, stack) + h)
            inner = layer.activation(linear(attended, layer.intermediate, stack))
            h = layer.norm_output(linear(inner, layer.output, stack) + attended)
        if h.shape[0] != k:
            h = h.expand(k, -1, -1)
        weights = batch.mask.to(h.dtype).reshape(1, b, t, 1)
        pooled = (h.reshape(k, b, t, width) * weights).sum(2) / weights.sum(2).clamp(min=1.0)
        return self._head_torch(stack, pooled)
