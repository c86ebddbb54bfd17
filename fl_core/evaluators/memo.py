"""A bounded memo in front of any evaluator: a vector seen before is not evaluated again.

Results are kept by a digest of the vector's bytes (least recently used dropped first), so a
model seen before -- a coalition asked for by two estimators, or next round's start model,
which is this round's grand coalition under plaintext FedAvg -- costs nothing. Exact: the
evaluators behind it give a vector the same bits whatever else shares its call.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from fl_core.evaluators.base import (
    VectorEvaluator,
    Vectors,
    as_stack,
    check_option,
    vector_digest,
)
from fl_core.metrics import Metrics

DEFAULT_MEMO_SIZE = 4096


class MemoEvaluator:
    """``inner`` with an LRU memo of ``memo_size`` results (0: no memo).

    Attributes:
        inner: the evaluator that computes.
        memo_hits: vectors answered from the memo.
        evaluated: vectors passed to ``inner`` (each distinct vector of a call once).
    """

    def __init__(self, inner: VectorEvaluator, memo_size: int = DEFAULT_MEMO_SIZE) -> None:
        self.inner = inner
        self.memo_size = check_option("memo_size", memo_size, 0)
        self.size: int = int(getattr(inner, "size", 0))
        self._memo: OrderedDict[bytes, Metrics] = OrderedDict()
        self.memo_hits = 0
        self.evaluated = 0

    @property
    def n_examples(self) -> int:
        return self.inner.n_examples

    @property
    def kind(self) -> str:
        """``"head"``, ``"suffix"`` or ``"plain"``: which evaluator computes."""
        return str(getattr(self.inner, "kind", type(self.inner).__name__))

    def evaluate(self, vector: np.ndarray) -> Metrics:
        """Metrics of one vector (memoised)."""
        return self.evaluate_many([vector])[0]

    def evaluate_many(self, vectors: Vectors) -> list[Metrics]:
        """Metrics of each vector; only distinct vectors not in the memo are computed."""
        stack = as_stack(vectors, self.size) if self.size else list(vectors)
        keys = [vector_digest(v) for v in stack]
        todo: dict[bytes, np.ndarray] = {}
        results: dict[bytes, Metrics] = {}  # hits are read now: computing may evict them
        for key, v in zip(keys, stack, strict=True):
            if key in self._memo:
                self.memo_hits += 1
                self._memo.move_to_end(key)
                results[key] = self._memo[key]
            elif key not in todo:
                todo[key] = v
        if todo:
            computed = self.inner.evaluate_many(list(todo.values()))
            if len(computed) != len(todo):
                raise ValueError("evaluate_many: must return one Metrics per vector")
            self.evaluated += len(todo)
            for key, metrics in zip(todo, computed, strict=True):
                results[key] = metrics
                self._remember(key, metrics)
        return [results[k] for k in keys]

    def clear_memo(self) -> None:
        """Forget every remembered result (e.g. to time a fresh run on the same task)."""
        self._memo.clear()

    def _remember(self, key: bytes, metrics: Metrics) -> None:
        if self.memo_size == 0:
            return
        self._memo[key] = metrics
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
