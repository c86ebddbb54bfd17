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

from fl_core.aggregation import apply_update
from fl_core.coalition_sums import CoalitionMeans
from fl_core.metrics import Metrics

Evaluate = Callable[[np.ndarray], Metrics]
EvaluateMany = Callable[[Sequence[np.ndarray]], list[Metrics]]

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

    The memo is keyed by the coalition's packed membership bits (``n / 8`` bytes, not a
    frozenset of ``n`` ints), so a round of 19,000 players and 57,000 coalitions holds about
    140 MB of keys, not tens of gigabytes. Besides ``u(frozenset)`` it takes coalitions as
    bitmasks (:meth:`value_of_mask`, :meth:`values_of_masks`: how :class:`market.Game` asks)
    and walks a player order prefix by prefix (:meth:`values_along`: a running sum, one
    evaluation per new prefix). Every path shares the memo; :attr:`evaluations` counts the
    distinct coalitions evaluated.

    Args:
        evaluate: maps a trainable vector to validation :class:`Metrics`.
        base_vector: the round-start global vector (the empty coalition's model).
        deltas: one update per player (players are positions 0..n-1); ``None`` when
            ``aggregate`` is the only way to a coalition's update (e.g. one secure-aggregation
            run per coalition: the caller never holds an individual update).
        weights: FedAvg weights (sample counts) per player.
        metric: ``"accuracy"`` or ``"neg_loss"``.
        server_lr: server step size, as in the real round.
        aggregate: how a coalition's aggregate update is obtained (default: FedAvg of the
            members' deltas; the simulator passes a secure-aggregation run or a robust
            aggregator here).
        evaluate_many: evaluates several vectors at once (e.g.
            :meth:`fl_core.evaluators.VectorEvaluator.evaluate_many`); used by the batched
            paths. Without it they call ``evaluate`` in turn.
    """

    def __init__(
        self,
        evaluate: Evaluate,
        base_vector: np.ndarray,
        deltas: Sequence[np.ndarray] | None,
        weights: Sequence[float],
        *,
        metric: str = "accuracy",
        server_lr: float = 1.0,
        aggregate: Callable[[frozenset[int]], np.ndarray] | None = None,
        evaluate_many: EvaluateMany | None = None,
    ) -> None:
        if metric not in ("accuracy", "neg_loss"):
            raise ValueError(f"metric: unknown utility metric {metric!r}; use accuracy or neg_loss")
        if deltas is None and aggregate is None:
            raise ValueError("deltas: needed unless an aggregate function gives coalition updates")
        if deltas is not None and len(deltas) != len(weights):
            raise ValueError("weights: need one weight per update")
        self._evaluate = evaluate
        self.base_vector = np.asarray(base_vector, dtype=np.float32)
        self.deltas = [np.asarray(d, dtype=np.float32) for d in deltas or []]
        self.weights = [float(w) for w in weights]
        self.metric = metric
        self.server_lr = server_lr
        self._aggregate = aggregate
        self._evaluate_many = evaluate_many
        self._cache: dict[bytes, Metrics] = {}
        self._means = (
            CoalitionMeans(self.deltas, np.asarray(self.weights, dtype=np.float64))
            if deltas is not None
            else None
        )
        self._key_bytes = (self.n_players + 7) // 8

    @property
    def n_players(self) -> int:
        return len(self.weights)

    @property
    def evaluations(self) -> int:
        """Distinct coalitions evaluated so far."""
        return len(self._cache)

    # ----- coalitions as membership rows and memo keys -----
    def _row(self, coalition: Iterable[int]) -> np.ndarray:
        if isinstance(coalition, (set, frozenset)):  # ints, read in C (no Python loop)
            members = np.fromiter(coalition, dtype=np.int64, count=len(coalition))
        else:
            members = np.fromiter((int(i) for i in coalition), dtype=np.int64)
        if len(members) and not (0 <= members.min() and members.max() < self.n_players):
            raise ValueError(
                f"coalition: players must be in 0..{self.n_players - 1}, got {sorted(members)}"
            )
        row = np.zeros(self.n_players, dtype=bool)
        row[members] = True
        return row

    def _key(self, row: np.ndarray) -> bytes:
        return np.packbits(row, bitorder="little").tobytes()

    def _key_of_mask(self, mask: int) -> bytes:
        if mask < 0 or mask >> self.n_players:
            raise ValueError(
                f"mask: a coalition of players 0..{self.n_players - 1} is a bitmask in "
                f"[0, 2**{self.n_players}), got {mask}"
            )
        return mask.to_bytes(self._key_bytes, "little")

    def _row_of_key(self, key: bytes) -> np.ndarray:
        bits = np.unpackbits(np.frombuffer(key, dtype=np.uint8), bitorder="little")
        return bits[: self.n_players].astype(bool)

    # ----- coalition models -----
    def coalition_vector(self, coalition: Iterable[int]) -> np.ndarray:
        """Round-start model plus the FedAvg of the coalition's updates."""
        return self._vector(self._row(coalition))

    def _vector(self, row: np.ndarray) -> np.ndarray:
        if not row.any():
            return self.base_vector.copy()
        if self._aggregate is not None or self._means is None:
            assert self._aggregate is not None
            aggregate = self._aggregate(frozenset(np.flatnonzero(row).tolist()))
        else:
            aggregate = self._means.mean(row)
        return apply_update(self.base_vector, aggregate, self.server_lr)

    def _vectors(self, rows: np.ndarray) -> list[np.ndarray]:
        """Coalition vectors of the rows of a ``(k, n)`` matrix (one product when plain)."""
        if self._means is None or self._aggregate is not None or not rows.any(axis=1).all():
            return [self._vector(row) for row in rows]
        means = self._means.means(rows)
        return [apply_update(self.base_vector, m, self.server_lr) for m in means]

    def _run(self, keys: list[bytes], vectors: list[np.ndarray]) -> None:
        """Evaluate ``vectors`` (one batch when ``evaluate_many`` is given) into the memo."""
        if self._evaluate_many is not None:
            results = self._evaluate_many(vectors)
        else:
            results = [self._evaluate(v) for v in vectors]
        if len(results) != len(vectors):
            raise ValueError("evaluate_many: must return one Metrics per vector")
        self._cache.update(zip(keys, results, strict=True))

    def _fill(self, keys: list[bytes]) -> None:
        """Evaluate the keys not in the memo, :data:`PREFETCH_CHUNK` at a time."""
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        for start in range(0, len(missing), PREFETCH_CHUNK):
            chunk = missing[start : start + PREFETCH_CHUNK]
            rows = np.stack([self._row_of_key(k) for k in chunk])
            self._run(chunk, self._vectors(rows))

    # ----- the utility -----
    def metrics(self, coalition: Iterable[int]) -> Metrics:
        row = self._row(coalition)
        key = self._key(row)
        if key not in self._cache:
            self._cache[key] = self._evaluate(self._vector(row))
        return self._cache[key]

    def metrics_many(self, coalitions: Iterable[Iterable[int]]) -> list[Metrics]:
        """Metrics of several coalitions; the ones not cached are evaluated in one batch."""
        keys = [self._key(self._row(c)) for c in coalitions]
        self._fill(keys)
        return [self._cache[k] for k in keys]

    def prefetch(self, coalitions: Iterable[Iterable[int]]) -> None:
        """Evaluate coalitions an estimator is certain to ask for, in one batched call."""
        self.metrics_many(coalitions)

    def values_many(self, coalitions: Iterable[Iterable[int]]) -> list[float]:
        """``[u(S) for S in coalitions]``, evaluated as one batch."""
        return [self._value(m) for m in self.metrics_many(coalitions)]

    def value_of_mask(self, mask: int) -> float:
        """``u(S)`` for the coalition with bitmask ``mask`` (bit ``i`` = player ``i``)."""
        key = self._key_of_mask(int(mask))
        if key not in self._cache:
            self._cache[key] = self._evaluate(self._vector(self._row_of_key(key)))
        return self._value(self._cache[key])

    def values_of_masks(self, masks: Sequence[int]) -> np.ndarray:
        """``u`` of each bitmask; the ones not cached are evaluated as batches."""
        keys = [self._key_of_mask(int(m)) for m in masks]
        self._fill(keys)
        return np.array([self._value(self._cache[k]) for k in keys], dtype=np.float64)

    def values_along(
        self, order: Sequence[int] | np.ndarray, stop: int | None = None
    ) -> np.ndarray:
        """``u(order[:k])`` for ``k = 1 .. stop`` (default: every prefix), float64.

        A permutation walk: the FedAvg of each prefix is the previous one's running sum plus
        one row (:meth:`CoalitionMeans.prefix_means`), and the prefixes not in the memo are
        evaluated :data:`PREFETCH_CHUNK` at a time. Prefixes already evaluated are not
        evaluated again, so :attr:`evaluations` counts exactly the new ones.
        """
        order = np.asarray(order, dtype=np.int64)
        stop = len(order) if stop is None else int(stop)
        if not 0 <= stop <= len(order) or len(np.unique(order)) != len(order):
            raise ValueError(f"order: need distinct players and 0 <= stop <= {len(order)}")
        if len(order) and not (0 <= order.min() and order.max() < self.n_players):
            raise ValueError(f"order: players must be in 0..{self.n_players - 1}")
        row = np.zeros(self.n_players, dtype=bool)
        keys = []
        for player in order[:stop]:
            row[player] = True
            keys.append(self._key(row))
        for start in range(0, stop, PREFETCH_CHUNK):
            end = min(start + PREFETCH_CHUNK, stop)
            new = [k for k in range(start, end) if keys[k] not in self._cache]
            if not new:
                continue
            if self._means is None or self._aggregate is not None:
                vectors = [self._vector(self._row_of_key(keys[k])) for k in new]
            else:
                means = self._means.prefix_means(order, new[0], new[-1] + 1)
                vectors = [
                    apply_update(self.base_vector, means[k - new[0]], self.server_lr) for k in new
                ]
            self._run([keys[k] for k in new], vectors)
        return np.array([self._value(self._cache[k]) for k in keys], dtype=np.float64)

    def _value(self, m: Metrics) -> float:
        return m.accuracy if self.metric == "accuracy" else -m.loss

    def example_values_of_masks(self, masks: Sequence[int]) -> np.ndarray:
        """Per-example utilities ``(len(masks), n_examples)``, float64: each row's mean is
        ``u`` of that bitmask (minus the cross-entropy, or the 0/1 hit, of every validation
        example). Evaluated like :meth:`values_of_masks` (same memo, same count).

        Raises:
            ValueError: the evaluator keeps no per-example results.
        """
        keys = [self._key_of_mask(int(m)) for m in masks]
        self._fill(keys)
        rows = []
        for key in keys:
            m = self._cache[key]
            per = m.example_correct if self.metric == "accuracy" else m.example_losses
            if per is None:
                raise ValueError("evaluate: this evaluator keeps no per-example results")
            rows.append(
                per.astype(np.float64) if self.metric == "accuracy" else -per.astype(np.float64)
            )
        return np.stack(rows) if rows else np.zeros((0, 0))

    def __call__(self, coalition: Iterable[int]) -> float:
        return self._value(self.metrics(coalition))

    def table(self) -> dict[frozenset[int], Metrics]:
        """Everything evaluated so far (for recording and audit)."""
        return {
            frozenset(np.flatnonzero(self._row_of_key(k)).tolist()): m
            for k, m in self._cache.items()
        }


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
