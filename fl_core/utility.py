"""Coalition utility: what contribution scoring calls, many times per round.

For a subset S of one round's client updates, the coalition model is the round-start model
plus the FedAvg of S's updates (applied with the server step size); its utility is its
accuracy (or negative loss) on the server validation set, or on a fixed stratified subset of
it. The empty coalition gives the round-start model. Results are memoised, so a coalition
is evaluated once per round whichever estimator asks; :meth:`CoalitionUtility.prefetch`
evaluates coalitions known to be needed in one batched call (see :mod:`fl_core.evaluators`,
whose memo also remembers models across rounds).

Exact and approximate: the memo, the batched evaluation and the stacked FedAvg of large
coalitions are exact (floating-point order aside). Scoring on a stratified *subset* of the
validation set is an approximation; :func:`subset_size` sizes it from a tolerance on the
standard error of one utility. Marginal contributions ``u(S + i) - u(S)`` are differences on
the *same* examples, so their error is usually much smaller than that bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from fl_core.aggregation import apply_update, fedavg
from fl_core.metrics import Metrics

Evaluate = Callable[[np.ndarray], Metrics]
EvaluateMany = Callable[[Sequence[np.ndarray]], list[Metrics]]

STACKED_FEDAVG_MIN = 32
"""Coalitions with more members than this are averaged as one ``weights @ deltas`` product
(float64, equal to :func:`~fl_core.aggregation.fedavg` up to summation order) instead of a
Python loop over members; smaller ones use ``fedavg`` itself, bit for bit."""

PREFETCH_CHUNK = 256
"""Coalition vectors built at a time by :meth:`CoalitionUtility.metrics_many` (memory)."""


def subset_size(
    tolerance: float,
    *,
    p: float = 0.5,
    variance: float | None = None,
    population: int | None = None,
) -> int:
    """Examples needed for a utility whose standard error is at most ``tolerance``.

    Accuracy on ``n`` examples has binomial standard error ``sqrt(p (1 - p) / n)``, so
    ``n = ceil(p (1 - p) / tolerance**2)`` (``p = 0.5`` is the worst case). For a mean loss
    give the per-example loss ``variance`` instead: ``n = ceil(variance / tolerance**2)``.
    With ``population`` (the validation set's size; the subset is drawn without replacement)
    the finite-population correction ``n / (1 + (n - 1) / population)`` applies.

    Args:
        tolerance: the standard error allowed, in utility units (e.g. 0.02 = 2 points).
        p: the expected accuracy.
        variance: per-example variance of the loss (overrides ``p``).
        population: size of the set the subset is drawn from.
    """
    if not (isinstance(tolerance, (int, float)) and tolerance > 0):
        raise ValueError(f"tolerance: must be > 0, got {tolerance!r}")
    if variance is None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p: an accuracy must be in [0, 1], got {p!r}")
        variance = p * (1.0 - p)
    elif variance < 0:
        raise ValueError(f"variance: must be >= 0, got {variance!r}")
    n = max(1, math.ceil(variance / tolerance**2 - 1e-9))
    if population is not None:
        if population < 1:
            raise ValueError(f"population: must be >= 1, got {population!r}")
        n = min(population, max(1, math.ceil(n / (1.0 + (n - 1) / population) - 1e-9)))
    return n


def stratified_subset(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A fixed subset of ``size`` indices keeping class proportions (sorted).

    Each class gets ``round(size * share)`` members (at least one), so the total can differ
    from ``size`` by rounding (by at most the number of classes).
    """
    labels = np.asarray(labels)
    if size >= len(labels):
        return np.arange(len(labels))
    chosen = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        take = max(1, int(round(size * len(members) / len(labels))))
        chosen.append(rng.choice(members, size=min(take, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


class CoalitionUtility:
    """``utility(frozenset of player positions) -> float``, memoised.

    Args:
        evaluate: maps a trainable vector to validation :class:`Metrics`.
        base_vector: the round-start global vector (the empty coalition's model).
        deltas: one update per player (players are positions 0..n-1).
        weights: FedAvg weights (sample counts) per player.
        metric: ``"accuracy"`` or ``"neg_loss"``.
        server_lr: server step size, as in the real round.
        aggregate: how a coalition's aggregate update is obtained (default: FedAvg of the
            members' deltas; the simulator passes a secure-aggregation run or a robust
            aggregator here).
        evaluate_many: evaluates several vectors at once (e.g.
            :meth:`fl_core.evaluators.VectorEvaluator.evaluate_many`); used by
            :meth:`prefetch` and :meth:`metrics_many`. Without it they call ``evaluate`` in turn.
    """

    def __init__(
        self,
        evaluate: Evaluate,
        base_vector: np.ndarray,
        deltas: Sequence[np.ndarray],
        weights: Sequence[float],
        *,
        metric: str = "accuracy",
        server_lr: float = 1.0,
        aggregate: Callable[[frozenset[int]], np.ndarray] | None = None,
        evaluate_many: EvaluateMany | None = None,
    ) -> None:
        if metric not in ("accuracy", "neg_loss"):
            raise ValueError(f"metric: unknown utility metric {metric!r}; use accuracy or neg_loss")
        if len(deltas) != len(weights):
            raise ValueError("weights: need one weight per update")
        self._evaluate = evaluate
        self.base_vector = np.asarray(base_vector, dtype=np.float32)
        self.deltas = [np.asarray(d, dtype=np.float32) for d in deltas]
        self.weights = [float(w) for w in weights]
        self.metric = metric
        self.server_lr = server_lr
        self._aggregate = aggregate
        self._evaluate_many = evaluate_many
        self._cache: dict[frozenset[int], Metrics] = {}
        self._stacked: np.ndarray | None = None  # (n, d) float64 deltas, built on demand
        self._weight_array = np.asarray(self.weights, dtype=np.float64)
        self._last_sum: tuple[frozenset[int], np.ndarray] | None = None  # walk memo

    @property
    def n_players(self) -> int:
        return len(self.deltas)

    @property
    def evaluations(self) -> int:
        """Distinct coalitions evaluated so far."""
        return len(self._cache)

    def coalition_vector(self, coalition: frozenset[int]) -> np.ndarray:
        """Round-start model plus the FedAvg of the coalition's updates."""
        members = sorted(coalition)
        if members and not (0 <= members[0] and members[-1] < self.n_players):
            raise ValueError(
                f"coalition: players must be in 0..{self.n_players - 1}, got {members}"
            )
        if not members:
            return self.base_vector.copy()
        if self._aggregate is not None:
            aggregate = self._aggregate(frozenset(members))
        elif len(members) > STACKED_FEDAVG_MIN:
            aggregate = self._stacked_fedavg(members)
        else:
            aggregate = fedavg(
                [self.deltas[i] for i in members], [self.weights[i] for i in members]
            )
        return apply_update(self.base_vector, aggregate, self.server_lr)

    def _stacked_fedavg(self, members: list[int]) -> np.ndarray:
        """FedAvg of a large coalition as one ``weights @ deltas`` product."""
        if self._stacked is None:
            self._stacked = np.stack(self.deltas).astype(np.float64)
        index = np.fromiter(members, dtype=np.int64, count=len(members))
        w = self._weight_array[index]
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights: need non-negative weights with a positive sum")
        key = frozenset(members)
        last = self._last_sum
        if last is not None:
            added, removed = key - last[0], last[0] - key
            if len(added) + len(removed) <= len(members) // 8:
                # an estimator's walk adds players one at a time: update the last sum
                total = last[1].copy()
                for i in added:
                    total += self._weight_array[i] * self._stacked[i]
                for i in removed:
                    total -= self._weight_array[i] * self._stacked[i]
                self._last_sum = (key, total)
                return (total / w.sum()).astype(np.float32)
        full = np.zeros(self.n_players, dtype=np.float64)
        full[index] = w
        total = full @ self._stacked
        self._last_sum = (key, total)
        return (total / w.sum()).astype(np.float32)

    def metrics(self, coalition: frozenset[int]) -> Metrics:
        key = coalition if type(coalition) is frozenset else frozenset(int(i) for i in coalition)
        if key not in self._cache:
            self._cache[key] = self._evaluate(self.coalition_vector(key))
        return self._cache[key]

    def metrics_many(self, coalitions: Iterable[frozenset[int]]) -> list[Metrics]:
        """Metrics of several coalitions; the ones not cached are evaluated in one batch."""
        keys = [frozenset(int(i) for i in c) for c in coalitions]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        for start in range(0, len(missing), PREFETCH_CHUNK):
            chunk = missing[start : start + PREFETCH_CHUNK]
            vectors = [self.coalition_vector(k) for k in chunk]
            if self._evaluate_many is not None:
                results = self._evaluate_many(vectors)
            else:
                results = [self._evaluate(v) for v in vectors]
            if len(results) != len(vectors):
                raise ValueError("evaluate_many: must return one Metrics per vector")
            self._cache.update(zip(chunk, results, strict=True))
        return [self._cache[k] for k in keys]

    def prefetch(self, coalitions: Iterable[frozenset[int]]) -> None:
        """Evaluate coalitions an estimator is certain to ask for, in one batched call."""
        self.metrics_many(coalitions)

    def values_many(self, coalitions: Iterable[frozenset[int]]) -> list[float]:
        """``[u(S) for S in coalitions]``, evaluated as one batch."""
        return [self._value(m) for m in self.metrics_many(coalitions)]

    def _value(self, m: Metrics) -> float:
        return m.accuracy if self.metric == "accuracy" else -m.loss

    def __call__(self, coalition: frozenset[int]) -> float:
        return self._value(self.metrics(coalition))

    def table(self) -> dict[frozenset[int], Metrics]:
        """Everything evaluated so far (for recording and audit)."""
        return dict(self._cache)


def subset_for_tolerance(
    labels: np.ndarray,
    tolerance: float,
    rng: np.random.Generator,
    *,
    p: float = 0.5,
    variance: float | None = None,
) -> np.ndarray:
    """A fixed stratified validation subset sized by :func:`subset_size` from ``tolerance``."""
    labels = np.asarray(labels)
    size = subset_size(tolerance, p=p, variance=variance, population=len(labels))
    return stratified_subset(labels, size, rng)
