"""The one evaluator protocol, and what every evaluator shares.

A :class:`VectorEvaluator` maps trainable vectors (see :mod:`fl_core.vector`) to
:class:`~fl_core.metrics.Metrics` on a fixed set of examples. Three implementations sit
behind it (:mod:`~fl_core.evaluators.head`, :mod:`~fl_core.evaluators.suffix`,
:mod:`~fl_core.evaluators.plain`) and one wrapper (:mod:`~fl_core.evaluators.memo`);
:func:`fl_core.evaluators.make_evaluator` picks the fastest that supports the model and
always returns one.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from fl_core.classifier import SentenceClassifier
from fl_core.features import FeatureStore
from fl_core.metrics import Metrics
from fl_core.vector import ParameterLayout

Vectors = Sequence[np.ndarray] | np.ndarray
"""Several flat float32 vectors: a list of ``(d,)`` arrays or one ``(K, d)`` array."""


@runtime_checkable
class VectorEvaluator(Protocol):
    """Accuracy and loss of trainable vectors on a fixed set of examples."""

    @property
    def n_examples(self) -> int:
        """How many examples each evaluation runs on."""
        ...

    def evaluate(self, vector: np.ndarray) -> Metrics:
        """Metrics of one vector."""
        ...

    def evaluate_many(self, vectors: Vectors) -> list[Metrics]:
        """Metrics of each vector, in order (one :class:`Metrics` per vector)."""
        ...


class UnsupportedModel(ValueError):  # noqa: N818 - names the condition, like DataError
    """The model has a part a fast evaluator does not implement (the factory falls back)."""


def vector_digest(vector: np.ndarray) -> bytes:
    """A 16-byte digest of a float32 vector's contents (the memo key)."""
    flat = np.ascontiguousarray(vector, dtype=np.float32)
    return hashlib.blake2b(flat.tobytes(), digest_size=16).digest()


def as_stack(vectors: Vectors, size: int) -> np.ndarray:
    """``(K, size)`` float32 C-contiguous stack; a wrong shape is a one-line ValueError."""
    rows = [np.asarray(v, dtype=np.float32) for v in vectors]
    for v in rows:
        if v.shape != (size,):
            raise ValueError(f"vector: expected shape ({size},), got {v.shape}")
    if not rows:
        return np.zeros((0, size), dtype=np.float32)
    return np.ascontiguousarray(np.stack(rows))


def check_indices(indices: np.ndarray | None, n: int) -> np.ndarray:
    """The evaluated example indices (all ``n`` by default), checked."""
    idx = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
    if idx.ndim != 1 or len(idx) == 0:
        raise ValueError("indices: give a non-empty 1-D array of example indices")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"indices: must lie in [0, {n}), got [{idx.min()}, {idx.max()}]")
    return idx


def check_option(field: str, value: int, least: int) -> int:
    """A positive-integer option, or a one-line ValueError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{field}: must be an integer >= {least}, got {value!r}")
    return value


@dataclass(frozen=True, eq=False)
class EvaluatorInputs:
    """What an evaluator evaluates, on which examples: the inputs every evaluator shares.

    Attributes:
        model: the task's classifier.
        layout: the flat vector's layout (:class:`~fl_core.vector.ParameterLayout`).
        features: the split's :class:`~fl_core.features.FeatureStore`.
        labels: labels of the whole split.
        indices: the examples to evaluate on (default: the whole split).
    """

    model: SentenceClassifier
    layout: ParameterLayout
    features: FeatureStore
    labels: np.ndarray
    indices: np.ndarray | None = None


class StackEvaluator(ABC):
    """An evaluator that computes ``max_coalitions`` vectors per call of :meth:`_compute`.

    Every implementation takes one :class:`EvaluatorInputs`, then its own keyword options.
    A vector's result must not depend on the other vectors of its call (bitwise), so a
    memoised result equals a recomputed one.

    Args:
        inputs: what is evaluated, on which examples.
        max_coalitions: vectors per call of :meth:`_compute`.

    Raises:
        ValueError: a bad ``max_coalitions`` or ``indices`` (one line naming it).
    """

    kind: str = ""

    def __init__(self, inputs: EvaluatorInputs, *, max_coalitions: int) -> None:
        self.max_coalitions = check_option("max_coalitions", max_coalitions, 1)
        self.indices = check_indices(inputs.indices, len(inputs.features))
        self.size = int(inputs.layout.size)

    @property
    def n_examples(self) -> int:
        return int(len(self.indices))

    def evaluate(self, vector: np.ndarray) -> Metrics:
        """Metrics of one vector."""
        return self.evaluate_many([vector])[0]

    def evaluate_many(self, vectors: Vectors) -> list[Metrics]:
        """Metrics of each vector, ``max_coalitions`` at a time."""
        stack = as_stack(vectors, self.size)
        out: list[Metrics] = []
        for start in range(0, len(stack), self.max_coalitions):
            out.extend(self._compute(stack[start : start + self.max_coalitions]))
        return out

    @abstractmethod
    def _compute(self, vectors: np.ndarray) -> list[Metrics]:
        """Metrics of a ``(K, size)`` stack, ``K <= max_coalitions``."""
