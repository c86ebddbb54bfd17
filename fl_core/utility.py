"""Coalition utility: what contribution scoring calls, many times per round.

For a subset S of one round's client updates, the coalition model is the round-start model
plus the FedAvg of S's updates (applied with the server step size); its utility is its
accuracy (or negative loss) on the server validation set, or on a fixed stratified subset of
it. The empty coalition gives the round-start model. Results are memoised, so a coalition
is evaluated once per round whichever estimator asks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fl_core.aggregation import apply_update, fedavg
from fl_core.evaluation import Metrics

Evaluate = Callable[[np.ndarray], Metrics]


def stratified_subset(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A fixed subset of ``size`` indices keeping class proportions (sorted)."""
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
        self._cache: dict[frozenset[int], Metrics] = {}

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
        if any(not 0 <= i < self.n_players for i in members):
            raise ValueError(
                f"coalition: players must be in 0..{self.n_players - 1}, got {members}"
            )
        if not members:
            return self.base_vector.copy()
        if self._aggregate is not None:
            aggregate = self._aggregate(frozenset(members))
        else:
            aggregate = fedavg(
                [self.deltas[i] for i in members], [self.weights[i] for i in members]
            )
        return apply_update(self.base_vector, aggregate, self.server_lr)

    def metrics(self, coalition: frozenset[int]) -> Metrics:
        key = frozenset(int(i) for i in coalition)
        if key not in self._cache:
            self._cache[key] = self._evaluate(self.coalition_vector(key))
        return self._cache[key]

    def __call__(self, coalition: frozenset[int]) -> float:
        m = self.metrics(coalition)
        return m.accuracy if self.metric == "accuracy" else -m.loss

    def table(self) -> dict[frozenset[int], Metrics]:
        """Everything evaluated so far (for recording and audit)."""
        return dict(self._cache)
