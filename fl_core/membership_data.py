"""What a membership-inference audit reads from models: per-example losses, shadow models.

:func:`example_losses` evaluates trained vectors on chosen examples with the task's fastest
evaluator (:func:`fl_core.evaluators.make_evaluator`: cached embeddings in head mode) and
returns each example's cross-entropy, from which :mod:`privacy.membership` derives the
loss-threshold score and LiRA's logit-scaled confidence (``p = exp(-loss)``).

:func:`train_shadows` trains LiRA's shadow models (Carlini et al., "Membership Inference
Attacks From First Principles", IEEE S&P 2022) in head mode: ``K`` heads, each on a random
half of a candidate pool (every example IN for exactly ``K // 2`` of them), by the target's
procedure as the attacker knows it: the IN half split over ``clients`` clients, ``rounds``
rounds of local training with the task's settings (AdamW state kept per client), combined
by the sample-weighted FedAvg mean or a given ``aggregate`` (e.g. a differentially private
one). Local training is :func:`fl_core.backends.train_jobs`, the path participants train on,
always in this process (the pool's examples need not be any participant's); update
compression is not applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fl_core.aggregation import apply_update, fedavg
from fl_core.backends import TrainJob, batches_heads, train_jobs
from fl_core.evaluators import make_evaluator
from fl_core.task import SPLITS, FederatedTask
from privacy.membership import balanced_keep, scaled_confidence

Aggregate = Callable[[Sequence[np.ndarray], Sequence[float], np.random.Generator], np.ndarray]
"""``aggregate(deltas, weights, rng) -> delta``: how a shadow round combines its clients."""

UNBOUNDED_SPEED = 1e12
"""Samples per second of a shadow client when none is given: only the epochs bound it."""


def _indices(indices: np.ndarray | Sequence[int], n: int, field: str = "indices") -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{field}: give a non-empty 1-D array of example indices")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"{field}: must lie in [0, {n}), got [{idx.min()}, {idx.max()}]")
    return idx.astype(np.int64)


def _labels(
    labels: np.ndarray | Sequence[int] | None, idx: np.ndarray, task: FederatedTask, split: str
) -> np.ndarray:
    """The split's labels with ``labels`` put at ``idx`` (a whole-split array)."""
    full = np.asarray(getattr(task.splits, split).labels, dtype=np.int64).copy()
    if labels is None:
        return full
    given = np.asarray(labels)
    if given.shape != idx.shape or not np.issubdtype(given.dtype, np.integer):
        raise ValueError(
            f"labels: give one integer label per index ({len(idx)}), got {given.shape}"
        )
    if len(given) and (given.min() < 0 or given.max() >= task.n_classes):
        raise ValueError(f"labels: must be class indices in [0, {task.n_classes - 1}]")
    if len(np.unique(idx)) != len(idx):
        raise ValueError("indices: must be distinct when labels are given")
    full[idx] = given
    return full


def example_losses(
    task: FederatedTask,
    vectors: Sequence[np.ndarray] | np.ndarray,
    indices: np.ndarray | Sequence[int],
    *,
    labels: np.ndarray | Sequence[int] | None = None,
    split: str = "train",
) -> np.ndarray:
    """Cross-entropy of each vector on each example: ``(K, n)`` float64.

    Args:
        task: the task whose model the vectors are trainable parameters of.
        vectors: ``K`` flat trainable vectors.
        indices: ``n`` examples of ``split``.
        labels: the label to score each example against (default: the split's; e.g. the
            noisy label a participant trained on).
        split: ``"train"``, ``"val"`` or ``"test"``.

    Raises:
        ValueError: an unknown split, bad indices or labels, or a vector of the wrong size.
    """
    if split not in SPLITS:
        raise ValueError(f"split: unknown split {split!r}; use one of {SPLITS}")
    idx = _indices(indices, len(getattr(task.splits, split)))
    evaluator = make_evaluator(
        task.model,
        task.layout,
        task.features[split],
        _labels(labels, idx, task, split),
        idx,
        memo_size=0,
        batch_size=task.train_config.eval_batch_size,
        device=task.device,
    )
    metrics = evaluator.evaluate_many(vectors)
    if not metrics:
        raise ValueError("vectors: give at least one trainable vector")
    rows = []
    for m in metrics:
        assert m.example_losses is not None  # every evaluator keeps them
        rows.append(np.asarray(m.example_losses, dtype=np.float64))
    return np.stack(rows)


@dataclass(frozen=True)
class ShadowSet:
    """LiRA's shadow models on a candidate pool.

    Attributes:
        pool: the ``n`` candidate examples (training-pool indices), in order.
        keep: ``(K, n)`` bool, whether example ``j`` was in shadow ``k``'s training data.
        losses: ``(K, n)`` cross-entropy of each shadow on each candidate.
        vectors: ``(K, d)`` the shadows' trained vectors.
    """

    pool: np.ndarray
    keep: np.ndarray
    losses: np.ndarray
    vectors: np.ndarray

    @property
    def phi(self) -> np.ndarray:
        """``(K, n)`` logit-scaled confidences (:func:`privacy.membership.scaled_confidence`)."""
        return scaled_confidence(self.losses)


def _check_count(field: str, value: int, least: int) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < least:
        raise ValueError(f"{field}: must be an integer >= {least}, got {value!r}")
    return int(value)


def train_shadows(
    task: FederatedTask,
    pool: np.ndarray | Sequence[int],
    labels: np.ndarray | Sequence[int] | None = None,
    *,
    shadows: int,
    rng: np.random.Generator,
    rounds: int = 1,
    clients: int = 1,
    samples_per_second: float | None = None,
    aggregate: Aggregate | None = None,
) -> ShadowSet:
    """Train ``shadows`` heads, each on a random half of ``pool`` (head mode only).

    Args:
        task: the target's task (its model, training settings and cached embeddings).
        pool: candidate examples (distinct training-pool indices): members and non-members.
        labels: the label of each candidate (default: the pool's own).
        shadows: ``K`` >= 2 shadow models; each example is IN for ``K // 2`` of them.
        rng: every draw (the IN halves, the client split, local training, ``aggregate``).
        rounds: federated rounds per shadow (0: the shadows are the initial model).
        clients: how many clients each shadow's IN half is split over.
        samples_per_second: each shadow client's compute (default: bounded by epochs only).
        aggregate: combines a round's deltas (default: FedAvg weighted by samples trained).

    Raises:
        ValueError: not head mode, or a bad count, pool or label (one line naming it).
    """
    if task.model_config.mode != "head":
        raise ValueError(
            f"model.mode: shadow models are trained in head mode only, not "
            f"{task.model_config.mode!r}"
        )
    _check_count("shadows", shadows, 2)
    _check_count("rounds", rounds, 0)
    _check_count("clients", clients, 1)
    speed = UNBOUNDED_SPEED if samples_per_second is None else float(samples_per_second)
    if not (np.isfinite(speed) and speed > 0):
        raise ValueError(f"samples_per_second: must be a positive number, got {speed!r}")
    idx = _indices(pool, len(task.splits.train), "pool")
    full = _labels(labels, idx, task, "train")  # also checks the pool is distinct
    if labels is None and len(np.unique(idx)) != len(idx):
        raise ValueError("pool: candidate examples must be distinct")
    pool_labels = full[idx]
    keep_rng, split_rng, train_rng, aggregate_rng = rng.spawn(4)
    keep = balanced_keep(shadows, len(idx), keep_rng)
    shards: list[list[np.ndarray]] = []
    for k in range(shadows):
        members = np.flatnonzero(keep[k])
        parts = np.array_split(split_rng.permutation(members), min(clients, len(members)))
        shards.append([p for p in parts if len(p)])
    streams = [list(train_rng.spawn(len(parts))) for parts in shards]
    states: list[list[dict[str, Any] | None]] = [[None] * len(parts) for parts in shards]
    vectors = [task.initial_vector.copy() for _ in range(shadows)]
    features = task.features["train"]
    features.ensure(idx)
    cfg = task.train_config
    for _ in range(rounds):
        # shadows that start the round from the same vector (all of them in round 1) train
        # in one call: a batch of heads when there are enough clients
        groups: dict[bytes, list[int]] = {}
        for k in range(shadows):
            groups.setdefault(vectors[k].tobytes(), []).append(k)
        for members_of_group in groups.values():
            jobs = [
                TrainJob(idx[part], pool_labels[part], speed, streams[k][c], states[k][c])
                for k in members_of_group
                for c, part in enumerate(shards[k])
            ]
            start = vectors[members_of_group[0]]
            results = train_jobs(
                task.model,
                features,
                "head",
                cfg,
                start,
                jobs,
                batched=batches_heads(task.model, "head", len(jobs)),
                view=task.head_view(),
            )
            at = 0
            for k in members_of_group:
                mine = results[at : at + len(shards[k])]
                at += len(shards[k])
                states[k] = [r.optimizer_state for r in mine]
                deltas = [r.delta for r in mine if r.delta is not None]
                weights = [float(r.samples_processed) for r in mine if r.delta is not None]
                if not deltas:
                    continue
                combine = aggregate or (lambda d, w, _rng: fedavg(d, w))
                delta = combine(deltas, weights, aggregate_rng)
                vectors[k] = apply_update(start, delta, cfg.server_lr)
    losses = example_losses(task, vectors, idx, labels=pool_labels)
    return ShadowSet(pool=idx, keep=keep, losses=losses, vectors=np.stack(vectors))


__all__ = ["Aggregate", "ShadowSet", "example_losses", "train_shadows"]
