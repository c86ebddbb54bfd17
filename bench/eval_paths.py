"""Coalition models and the evaluation paths the utility benches time side by side
(``bench.utility``, ``bench.round``; ``bench.record_minilm_utilities`` takes a round's
updates the same way).

Paths, each a ``vector -> Metrics`` on the validation split:

* :func:`plain_peft`: the whole peft network on token ids (``FeatureStore`` kind ``tokens``),
  ``set_vector`` + forward per coalition: the baseline;
* ``task.evaluate(v, "val", subset)``: the cached frozen prefix, the peft suffix per coalition;
* :func:`batched`: ``fl_core.evaluators.make_evaluator`` without its memo, so every call
  computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fl_core import CoalitionUtility, FederatedTask
from fl_core.evaluation import Metrics, evaluate
from fl_core.evaluators import VectorEvaluator, make_evaluator
from fl_core.features import FeatureStore

if TYPE_CHECKING:
    from agents.model import MarketModel
    from agents.participants import ParticipantAgent

EvalPath = Callable[[np.ndarray], Metrics]
"""One evaluation path: a coalition model's vector to its metrics."""


def coalitions_of(n: int) -> list[frozenset[int]]:
    """All ``2**n`` coalitions of ``n`` players, index = bitmask (bit ``i`` = player ``i``)."""
    return [frozenset(i for i in range(n) if mask >> i & 1) for mask in range(2**n)]


def coalition_vectors(
    base: np.ndarray,
    deltas: Sequence[np.ndarray],
    weights: Sequence[float],
    coalitions: Sequence[frozenset[int]],
) -> list[np.ndarray]:
    """Each coalition's model: ``base`` plus the FedAvg of its members' ``deltas``."""
    utility = CoalitionUtility(lambda v: Metrics(0, 0, 0), base, list(deltas), list(weights))
    return [utility.coalition_vector(c) for c in coalitions]


def included_updates(
    model: MarketModel,
) -> tuple[list[ParticipantAgent], list[np.ndarray], list[float]]:
    """The last round's included participants by id, their updates and FedAvg weights."""
    included = sorted((p for p in model.participants if p.included), key=lambda p: p.pid)
    deltas = [np.asarray(p.update, dtype=np.float32) for p in included]
    return included, deltas, [float(len(p.shard)) for p in included]


def plain_peft(task: FederatedTask, subset: np.ndarray | None = None) -> EvalPath:
    """The baseline path: the whole peft network on token ids (``subset``: all if None)."""
    plain = FeatureStore(task.model, task.features["val"].tokens, "tokens")
    labels = task.splits.val.labels
    return lambda v: evaluate(task.model, plain, labels, v, subset)


def batched(task: FederatedTask, subset: np.ndarray, **options: Any) -> VectorEvaluator:
    """The batched evaluator on ``subset`` of the validation split, memo off."""
    labels = task.splits.val.labels
    store = task.features["val"]
    return make_evaluator(task.model, task.layout, store, labels, subset, memo_size=0, **options)


def stacked_paths(evaluator: VectorEvaluator, vectors: Sequence[np.ndarray]) -> EvalPath:
    """Per-vector view of one stacked call over all ``vectors`` (the first call computes)."""
    cache: dict[int, Metrics] = {}

    def fn(v: np.ndarray) -> Metrics:
        if not cache:
            cache.update(enumerate(evaluator.evaluate_many(vectors)))
        key = next(i for i, w in enumerate(vectors) if w is v)
        metrics = cache[key]
        if key == len(vectors) - 1:
            cache.clear()
        return metrics

    return fn


def on_threads(threads: int, fn: EvalPath) -> EvalPath:
    """``fn`` run with torch on ``threads`` threads (restored after)."""

    def run(v: np.ndarray) -> Metrics:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return fn(v)
        finally:
            torch.set_num_threads(before)

    return run


def max_loss_diff(a: Sequence[Metrics], b: Sequence[Metrics]) -> float:
    return max(abs(x.loss - y.loss) for x, y in zip(a, b, strict=True))


def max_acc_diff(a: Sequence[Metrics], b: Sequence[Metrics]) -> float:
    return max(abs(x.accuracy - y.accuracy) for x, y in zip(a, b, strict=True))
