"""Batched coalition evaluation: the cheap path behind contribution scoring.

Shapley-style scoring evaluates many models that share everything but their trainable vector
(GTG-Shapley's authors, Liu et al. 2022, found 98.5% of their runtime in these evaluations).
:class:`CoalitionEvaluator` evaluates a fixed set of validation examples under one or many
vectors and reuses every piece of work that does not depend on the vector:

* **frozen prefix** (exact): the hidden states entering the first adapted layer come from
  the task's :class:`~fl_core.features.FeatureStore`, computed once per run;
* **frozen projections** (exact): in the first adapted layer the input is frozen and so are
  the base weights, so ``x W^T + b`` of every projection there (query, key and value) is
  computed once per evaluator; a vector only adds its low-rank LoRA term ``s (x A^T) B^T``;
* **merged LoRA** (exact): past the first adapted layer each vector's adapters are merged
  into its weights, ``W + s B A`` (one GEMM per projection instead of three ops);
* **batched coalitions** (exact): ``K`` vectors can be stacked along a new leading dimension;
  the frozen matmuls then run once over all ``K`` stacks as one large GEMM and only the LoRA
  terms and heads are per vector. In head mode a coalition is only its head, so ``K`` heads
  are one batched numpy matmul on the cached sentence embeddings (these ops are too small
  for torch's thread pool to pay off) -- thousands of times cheaper than the plain path. In
  LoRA mode stacking was measured *not* faster on the 2-core CPU, so it is off by default;
* **bitwise reproducible** results: a vector's metrics do not depend on which other vectors
  share its call (head mode: one GEMM per head; LoRA mode: one vector per forward by
  default), so a memoised utility equals a recomputed one to the last bit and a resumed run
  equals an uninterrupted one;
* **independent workers** (exact): LoRA-mode example batches are spread over one
  single-threaded torch worker per core instead of splitting every op across threads;
* **token-budget batches** (exact): examples are sorted by length and grouped so that a
  batch holds about ``batch_tokens`` tokens, so little padding is computed;
* **memo** (exact): results are kept by a digest of the vector's bytes, so a model seen
  before (a coalition asked for by two estimators, or next round's start model, which is
  this round's grand coalition under plaintext FedAvg) is not evaluated again.

"Exact" means the same arithmetic as the peft forward in eval mode; results differ only by
floating-point summation order (tested to 1e-5 in loss against the plain peft forward; in
head mode to 1e-6). What is approximate is the *choice* of examples: scoring on a fixed
stratified subset of the validation set (see :func:`fl_core.utility.subset_size`) instead
of all of it. The evaluator never calls ``set_vector``: the shared model is not modified.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the conventional torch alias)

from fl_core.evaluation import Metrics
from fl_core.features import FeatureStore
from fl_core.model import SentenceClassifier, additive_mask
from fl_core.vector import ParameterBlock, ParameterLayout

DEFAULT_BATCH_TOKENS = 1024
"""Tokens per example batch (examples x the longest length in the batch). Measured on the
2-core CPU (``bench/utility.py``): 512-1024 beat 2048-4096 by 1.2-1.7x (less padding, and the
activations stay in cache)."""

DEFAULT_MAX_COALITIONS = {"hidden": 1, "pooled": 256}
"""Vectors evaluated together in one stacked forward, by feature kind. In LoRA mode stacking
is exact but was *not* faster on the 2-core CPU (``bench/utility.py`` prints K = 1 vs K = 8
side by side): past the cached first-layer projections nothing is shared, and per-vector
merged weights make batched GEMMs no cheaper than one GEMM per vector (and with ``K > 1`` a
vector's result matches its ``K = 1`` result to float rounding, not bitwise). In head mode
``K`` heads are one batched matmul on the embeddings, far cheaper than ``K`` calls."""

PROJECTION_CACHE_BYTES = 256 * 2**20
"""Largest cache of first-layer projections kept per evaluator (else they are recomputed)."""


def vector_digest(vector: np.ndarray) -> bytes:
    """A 16-byte digest of a float32 vector's contents (the memo key)."""
    flat = np.ascontiguousarray(vector, dtype=np.float32)
    return hashlib.blake2b(flat.tobytes(), digest_size=16).digest()


class UnsupportedModel(ValueError):  # noqa: N818 - names the condition, like DataError
    """The model has a part the batched path does not implement (the caller falls back)."""


@dataclass(frozen=True)
class _Linear:
    """A frozen linear map, optionally with a LoRA term whose weights live in the vector."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    lora_a: ParameterBlock | None = None
    lora_b: ParameterBlock | None = None
    scaling: float = 1.0


@dataclass(frozen=True)
class _Layer:
    query: _Linear
    key: _Linear
    value: _Linear
    attention_out: _Linear
    intermediate: _Linear
    output: _Linear
    norm_attention: nn.LayerNorm
    norm_output: nn.LayerNorm
    activation: Callable[[torch.Tensor], torch.Tensor]
    heads: int
    head_size: int
    scale: float


@dataclass(frozen=True)
class _Batch:
    """One length-sorted batch of the evaluated examples."""

    positions: np.ndarray  # positions in the evaluator's example order
    hidden: torch.Tensor  # (B, T, H) frozen prefix states
    mask: torch.Tensor  # (B, T) attention mask
    additive: torch.Tensor  # (B, 1, 1, T)
    labels: torch.Tensor  # (B,)
    projections: dict[str, torch.Tensor]  # first layer: frozen x W^T + b, (1, B*T, out)


def _block_of(
    layout: ParameterLayout, names: dict[int, str], param: torch.Tensor
) -> ParameterBlock:
    name = names.get(id(param))
    for block in layout.blocks:
        if block.name == name:
            return block
    raise UnsupportedModel(f"model: parameter {name!r} is not in the vector layout")


def _linear_spec(module: Any, layout: ParameterLayout, names: dict[int, str]) -> _Linear:
    """Read a frozen ``nn.Linear`` or a vanilla peft LoRA ``Linear`` wrapping one."""
    if isinstance(module, nn.Linear):
        if module.weight.requires_grad:
            raise UnsupportedModel("model: a trainable encoder linear is not supported")
        return _Linear(module.weight.detach(), _detach(module.bias))
    base = getattr(module, "base_layer", None)
    lora_a = getattr(module, "lora_A", None)
    lora_b = getattr(module, "lora_B", None)
    if not isinstance(base, nn.Linear) or lora_a is None or lora_b is None:
        raise UnsupportedModel(f"model: unsupported module {type(module).__name__}")
    active = list(getattr(module, "active_adapters", []))
    if (
        len(active) != 1
        or getattr(module, "merged", False)
        or getattr(module, "disable_adapters", False)
        or active[0] in getattr(module, "lora_variant", {})
        or lora_a[active[0]].bias is not None
        or lora_b[active[0]].bias is not None
    ):
        raise UnsupportedModel("model: only a single vanilla, unmerged LoRA adapter is supported")
    name = active[0]
    return _Linear(
        base.weight.detach(),
        _detach(base.bias),
        _block_of(layout, names, lora_a[name].weight),
        _block_of(layout, names, lora_b[name].weight),
        float(module.scaling[name]),
    )


def _detach(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach()


def _layer_spec(layer: Any, layout: ParameterLayout, names: dict[int, str]) -> _Layer:
    attention = layer.attention.self
    if getattr(attention, "is_decoder", False):
        raise UnsupportedModel("model: decoder layers are not supported")
    return _Layer(
        query=_linear_spec(attention.query, layout, names),
        key=_linear_spec(attention.key, layout, names),
        value=_linear_spec(attention.value, layout, names),
        attention_out=_linear_spec(layer.attention.output.dense, layout, names),
        intermediate=_linear_spec(layer.intermediate.dense, layout, names),
        output=_linear_spec(layer.output.dense, layout, names),
        norm_attention=layer.attention.output.LayerNorm,
        norm_output=layer.output.LayerNorm,
        activation=layer.intermediate.intermediate_act_fn,
        heads=int(attention.num_attention_heads),
        head_size=int(attention.attention_head_size),
        scale=float(attention.scaling),
    )


def _head_spec(
    head: nn.Module, layout: ParameterLayout, names: dict[int, str]
) -> list[tuple[ParameterBlock, ParameterBlock] | str]:
    """The head as a list of ``(weight block, bias block)`` linears and ``"relu"`` steps."""
    modules: list[Any] = list(head) if isinstance(head, nn.Sequential) else [head]
    steps: list[tuple[ParameterBlock, ParameterBlock] | str] = []
    for module in modules:
        if isinstance(module, nn.Linear) and module.bias is not None:
            steps.append(
                (_block_of(layout, names, module.weight), _block_of(layout, names, module.bias))
            )
        elif isinstance(module, nn.ReLU):
            steps.append("relu")
        else:
            raise UnsupportedModel(f"model: unsupported head part {type(module).__name__}")
    return steps


def _blocks(vectors: torch.Tensor, block: ParameterBlock) -> torch.Tensor:
    """``(K, *block.shape)`` slices of a ``(K, d)`` stack of vectors."""
    part = vectors[:, block.offset : block.offset + block.size]
    return part.reshape(vectors.shape[0], *block.shape)


def _metrics_from_logits(logits: np.ndarray, labels: np.ndarray) -> list[Metrics]:
    """Mean cross-entropy and accuracy of each of ``K`` logit stacks ``(K, N, C)``."""
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


class CoalitionEvaluator:
    """Accuracy and loss of many trainable vectors on a fixed set of examples.

    Args:
        model: the task's classifier (read, never modified).
        layout: the flat vector's layout.
        features: the split's cached features (``"hidden"`` in LoRA mode, ``"pooled"`` in
            head mode; ``"tokens"`` is the plain path and is not supported here).
        labels: labels of the whole split.
        indices: the examples to evaluate on (default: the whole split).
        batch_tokens: tokens per example batch in LoRA mode.
        max_coalitions: vectors per stacked forward (default: by mode, see
            :data:`DEFAULT_MAX_COALITIONS`).
        memo_size: results kept by vector digest (least recently used are dropped).
        projection_cache_bytes: cap on the cached first-layer projections.
        workers: LoRA mode: example batches are spread over this many Python threads, each
            running torch on one thread (default: torch's thread count). The batches are
            independent, so the cores never wait on each other at every op as torch's
            intra-op pool does; on the shared 2-core machine that pool's barriers cost more
            than the math whenever other processes take a core (``bench/utility.py``).

    Raises:
        UnsupportedModel: a part of the model this path does not implement; use
            :func:`fl_core.evaluation.evaluate` instead.
    """

    def __init__(
        self,
        model: SentenceClassifier,
        layout: ParameterLayout,
        features: FeatureStore,
        labels: np.ndarray,
        indices: np.ndarray | None = None,
        *,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        max_coalitions: int | None = None,
        memo_size: int = 4096,
        projection_cache_bytes: int = PROJECTION_CACHE_BYTES,
        workers: int | None = None,
    ) -> None:
        if features.kind == "tokens":
            raise UnsupportedModel("features: the plain token path has no cache to batch on")
        if max_coalitions is None:
            max_coalitions = DEFAULT_MAX_COALITIONS[features.kind]
        for field, value, least in (
            ("batch_tokens", batch_tokens, 1),
            ("max_coalitions", max_coalitions, 1),
            ("memo_size", memo_size, 0),
            ("workers", 1 if workers is None else workers, 1),
        ):
            if value < least:
                raise ValueError(f"{field}: must be an integer >= {least}, got {value!r}")
        idx = np.arange(len(features)) if indices is None else np.asarray(indices, np.int64)
        if idx.ndim != 1 or len(idx) == 0:
            raise ValueError("indices: give a non-empty 1-D array of example indices")
        self.kind = features.kind
        self.indices = idx
        self.size = int(layout.size)
        self.max_coalitions = int(max_coalitions)
        self.workers = workers
        self.memo_size = int(memo_size)
        self._memo: OrderedDict[bytes, Metrics] = OrderedDict()
        self.memo_hits = 0
        self.evaluated = 0
        names = {id(p): name for name, p in model.named_parameters()}
        self._head = _head_spec(model.head, layout, names)
        labels_all = np.asarray(labels, dtype=np.int64)
        features.ensure(idx)
        if self.kind == "pooled":
            self._pooled = features.batch(idx).pooled
            assert self._pooled is not None
            self._pooled_np = self._pooled.numpy().astype(np.float32)
            self._labels_np = labels_all[idx]
            self._layers: list[_Layer] = []
            self._batches: list[_Batch] = []
            return
        bert = model.bert
        first = int(model.first_trainable_layer)
        self._layers = [_layer_spec(layer, layout, names) for layer in bert.encoder.layer[first:]]
        if not self._layers:
            raise UnsupportedModel("model: no trainable encoder layer (use head mode)")
        lengths = features.lengths[torch.from_numpy(idx)].numpy()
        order = np.argsort(lengths, kind="stable")
        width = int(bert.config.hidden_size)
        projected = 3 * width * 4 * int(lengths.sum())
        cache_projections = projected <= projection_cache_bytes
        self._batches = []
        start = 0
        while start < len(order):  # ascending lengths: a batch's width is its last length
            stop = start + 1
            while stop < len(order) and (stop + 1 - start) * int(lengths[order[stop]]) <= (
                batch_tokens
            ):
                stop += 1
            self._batches.append(
                self._make_batch(features, idx, order[start:stop], labels_all, cache_projections)
            )
            start = stop

    def _make_batch(
        self,
        features: FeatureStore,
        idx: np.ndarray,
        positions: np.ndarray,
        labels: np.ndarray,
        cache_projections: bool,
    ) -> _Batch:
        batch = features.batch(idx[positions])
        assert batch.hidden is not None and batch.mask is not None
        hidden = batch.hidden  # an index copy already (advanced indexing)
        projections: dict[str, torch.Tensor] = {}
        if cache_projections:
            flat = hidden.reshape(1, -1, hidden.shape[-1])
            layer = self._layers[0]
            with torch.inference_mode():
                for name in ("query", "key", "value"):
                    spec: _Linear = getattr(layer, name)
                    projections[name] = F.linear(flat, spec.weight, spec.bias)
        return _Batch(
            positions=positions,
            hidden=hidden,
            mask=batch.mask,
            additive=additive_mask(batch.mask, hidden.dtype),
            labels=torch.from_numpy(labels[idx[positions]]),
            projections=projections,
        )

    @property
    def n_examples(self) -> int:
        return int(len(self.indices))

    # ----- public -----
    def evaluate(self, vector: np.ndarray) -> Metrics:
        """Metrics of one vector (memoised)."""
        return self.evaluate_many([vector])[0]

    def evaluate_many(self, vectors: Sequence[np.ndarray] | np.ndarray) -> list[Metrics]:
        """Metrics of each vector, computed ``max_coalitions`` at a time (memoised)."""
        stack = [np.ascontiguousarray(v, dtype=np.float32) for v in vectors]
        for v in stack:
            if v.shape != (self.size,):
                raise ValueError(f"vector: expected shape ({self.size},), got {v.shape}")
        keys = [vector_digest(v) for v in stack]
        todo: dict[bytes, np.ndarray] = {}
        for key, v in zip(keys, stack, strict=True):
            if key in self._memo:
                self.memo_hits += 1
                self._memo.move_to_end(key)
            elif key not in todo:
                todo[key] = v
        pending = list(todo.items())
        results: dict[bytes, Metrics] = {}
        for start in range(0, len(pending), self.max_coalitions):
            chunk = pending[start : start + self.max_coalitions]
            metrics = self._compute(np.stack([v for _, v in chunk]))
            self.evaluated += len(chunk)
            for (key, _), m in zip(chunk, metrics, strict=True):
                results[key] = m
                self._remember(key, m)
        return [results[k] if k in results else self._memo[k] for k in keys]

    def clear_memo(self) -> None:
        """Forget every remembered result (e.g. to time a fresh run on the same task)."""
        self._memo.clear()

    def _remember(self, key: bytes, metrics: Metrics) -> None:
        if self.memo_size == 0:
            return
        self._memo[key] = metrics
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)

    # ----- the math -----
    def _compute(self, vectors: np.ndarray) -> list[Metrics]:
        if self.kind == "pooled":
            return _metrics_from_logits(self._head_numpy(vectors), self._labels_np)
        stack = torch.from_numpy(vectors)

        def run(batch: _Batch) -> np.ndarray:
            with torch.inference_mode():  # thread-local: entered in each worker
                return self._suffix(stack, batch).numpy()

        threads = torch.get_num_threads()
        workers = min(self.workers or threads, len(self._batches))
        if workers <= 1:
            parts = [run(batch) for batch in self._batches]
        else:
            # one single-threaded worker per core, each on its own example batches: no
            # thread-pool barrier per op (see ``workers`` in the class docstring)
            torch.set_num_threads(1)
            try:
                with ThreadPoolExecutor(workers) as pool:
                    parts = list(pool.map(run, self._batches))
            finally:
                torch.set_num_threads(threads)
        labels = np.concatenate([batch.labels.numpy() for batch in self._batches])
        return _metrics_from_logits(np.concatenate(parts, axis=1), labels)

    def _head_numpy(self, vectors: np.ndarray) -> np.ndarray:
        """Head logits ``(K, N, C)`` of ``K`` vectors on the cached embeddings."""
        k = len(vectors)
        x = self._pooled_np  # (N, H)
        out: np.ndarray | None = None
        for step in self._head:
            if step == "relu":
                assert out is not None
                out = np.maximum(out, 0.0)
                continue
            assert not isinstance(step, str)
            wb, bb = step
            w = vectors[:, wb.offset : wb.offset + wb.size].reshape(k, *wb.shape)
            b = vectors[:, bb.offset : bb.offset + bb.size]
            # one GEMM per vector, never one over the whole stack: a vector's result must not
            # depend on which vectors share its call (BLAS may sum in another order for
            # another shape), or a memoised utility would differ from a recomputed one
            # (e.g. after resuming from a checkpoint) in the last bits
            inputs = x[None] if out is None else out
            out = np.matmul(inputs, w.transpose(0, 2, 1)) + b[:, None, :]
        assert out is not None
        return out.astype(np.float32, copy=False)

    def _head_torch(self, stack: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        out = pooled  # (K, B, H)
        for step in self._head:
            if step == "relu":
                out = torch.relu(out)
                continue
            assert not isinstance(step, str)
            w = _blocks(stack, step[0])
            b = _blocks(stack, step[1])
            out = torch.baddbmm(b[:, None, :], out, w.transpose(1, 2))
        return out

    def _linear(
        self,
        h: torch.Tensor,
        spec: _Linear,
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
        a = _blocks(stack, spec.lora_a)  # (K, r, in)
        b = _blocks(stack, spec.lora_b)  # (K, out, r)
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
        for depth, layer in enumerate(self._layers):
            cached = batch.projections if depth == 0 else {}
            shared = depth == 0
            q = self._linear(h, layer.query, stack, shared=shared, base=cached.get("query"))
            key = self._linear(h, layer.key, stack, shared=shared, base=cached.get("key"))
            v = self._linear(h, layer.value, stack, shared=shared, base=cached.get("value"))

            def heads(x: torch.Tensor, layer: _Layer = layer) -> torch.Tensor:
                x = x.expand(k, -1, -1) if x.shape[0] != k else x
                return x.reshape(k * b, t, layer.heads, layer.head_size).transpose(1, 2)

            context = F.scaled_dot_product_attention(
                heads(q), heads(key), heads(v), attn_mask=mask, dropout_p=0.0, scale=layer.scale
            )
            context = context.transpose(1, 2).reshape(k, b * t, width)
            attended = layer.norm_attention(self._linear(context, layer.attention_out, stack) + h)
            inner = layer.activation(self._linear(attended, layer.intermediate, stack))
            h = layer.norm_output(self._linear(inner, layer.output, stack) + attended)
        if h.shape[0] != k:
            h = h.expand(k, -1, -1)
        weights = batch.mask.to(h.dtype).reshape(1, b, t, 1)
        pooled = (h.reshape(k, b, t, width) * weights).sum(2) / weights.sum(2).clamp(min=1.0)
        return self._head_torch(stack, pooled)


def make_evaluator(
    model: SentenceClassifier,
    layout: ParameterLayout,
    features: FeatureStore,
    labels: np.ndarray,
    indices: np.ndarray | None = None,
    **options: int,
) -> CoalitionEvaluator | None:
    """A :class:`CoalitionEvaluator`, or ``None`` where the model is not supported."""
    try:
        return CoalitionEvaluator(model, layout, features, labels, indices, **options)
    except UnsupportedModel:
        return None
