"""Where participants' local training runs: in this process, or as Ray actors on a cluster.

A round's trainers are a list of :class:`TrainJob` (shard, labels, speed, random stream,
optimizer state); a backend's ``map(task, global_vector, jobs)`` returns one
:class:`~fl_core.training.LocalResult` per job, **in job order**, whatever order workers
finish in, so aggregation sees the same sequence on every backend.

:class:`RayBackend` ships what training reads once per run: the task's model (its frozen
weights never change) and the frozen-prefix features of the training examples the
participants own, already computed by the driver (so every backend trains on the very same
tensors). Per round only the global trainable vector and, per job, its shard indices,
labels, random stream and optimizer state travel. A job's stream comes back advanced
exactly as local training would have advanced it, so later rounds draw the same numbers.
Jobs are cut into contiguous chunks, one per worker; in head mode the decision to train a
batch (:data:`BATCHED_HEAD_MIN`) is taken on the whole round, so a chunk trains as the same
batched arithmetic the local backend would use.

Ray: Moritz et al., "Ray: A Distributed Framework for Emerging AI Applications", OSDI 2018.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from fl_core.classifier import SentenceClassifier
from fl_core.config import BACKENDS, ModelConfig, TrainConfig
from fl_core.features import Batch, FeatureStore
from fl_core.training import LocalResult, train_local

BATCHED_HEAD_MIN = 32
"""Fewest clients a round trains as one batch in head mode (below, one by one, bit for bit
the single-client path)."""


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (restored after).

    Head-mode steps are microsecond-sized matmuls; fork/join of torch's thread pool costs
    more than the math, badly so when other processes share the cores (a head step measured
    0.33 ms on one thread against 3-19 ms on two on the shared 2-core machine).
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass
class TrainJob:
    """One participant's local training this round (``rng`` is advanced by training)."""

    shard: np.ndarray
    labels: np.ndarray
    samples_per_second: float
    rng: np.random.Generator
    optimizer_state: dict[str, Any] | None = None


def head_view(model: SentenceClassifier) -> SentenceClassifier:
    """A view of ``model`` holding only its (shared) head: what head-mode steps touch."""
    return SentenceClassifier(nn.Identity(), model.head, model.first_trainable_layer)


def batches_heads(model: SentenceClassifier, mode: str, n_jobs: int) -> bool:
    """Whether a round of ``n_jobs`` trains as one batch (linear head, enough clients)."""
    return mode == "head" and isinstance(model.head, nn.Linear) and n_jobs >= BATCHED_HEAD_MIN


def train_jobs(
    model: SentenceClassifier,
    features: FeatureStore,
    mode: str,
    cfg: TrainConfig,
    global_vector: np.ndarray,
    jobs: Sequence[TrainJob],
    *,
    batched: bool,
    view: SentenceClassifier | None = None,
) -> list[LocalResult]:
    """Train ``jobs`` in order: a batch of linear heads, or one by one.

    ``model`` is the full classifier; in head mode the one-by-one path steps ``view``
    (:func:`head_view`, built when not given) on one thread.
    """
    if batched:
        from fl_core.head_training import train_heads

        head = model.head
        assert isinstance(head, nn.Linear)  # batches_heads said so
        device = head.weight.device  # the task's train.device
        with single_thread(), torch.no_grad():
            weight, bias = head.weight.detach().cpu(), head.bias.detach().cpu()
        with single_thread() if device.type == "cpu" else nullcontext():
            return train_heads(
                weight,
                bias,
                features,
                global_vector,
                [j.shard for j in jobs],
                [j.labels for j in jobs],
                samples_per_second=[j.samples_per_second for j in jobs],
                cfg=cfg,
                rngs=[j.rng for j in jobs],
                optimizer_states=[j.optimizer_state for j in jobs],
                device=device,
            )
    step_model = model
    threads: AbstractContextManager[object] = nullcontext()
    if mode == "head":
        step_model, threads = view or head_view(model), single_thread()
    with threads:
        return [
            train_local(
                step_model,
                features,
                global_vector,
                job.shard,
                job.labels,
                samples_per_second=job.samples_per_second,
                cfg=cfg,
                rng=job.rng,
                optimizer_state=job.optimizer_state,
            )
            for job in jobs
        ]


class TrainingTask(Protocol):
    """What a backend reads of the task it trains for (:class:`fl_core.task.FederatedTask`)."""

    model: SentenceClassifier
    model_config: ModelConfig
    train_config: TrainConfig
    features: dict[str, FeatureStore]

    def head_view(self) -> SentenceClassifier:
        """The model reduced to its head (:func:`head_view`), built once."""
        ...

    def cached_train_indices(self) -> np.ndarray:
        """Training examples whose features are already computed (sorted)."""
        ...


class TrainingBackend(Protocol):
    """Runs a round's local training; results in job order."""

    name: str

    def map(
        self,
        task: TrainingTask,
        global_vector: np.ndarray,
        jobs: Sequence[TrainJob],
        *,
        cfg: TrainConfig | None = None,
    ) -> list[LocalResult]: ...

    def close(self) -> None: ...


class LocalBackend:
    """Every job in this process, one after the other (or as one head batch)."""

    name = "local"

    def map(
        self,
        task: TrainingTask,
        global_vector: np.ndarray,
        jobs: Sequence[TrainJob],
        *,
        cfg: TrainConfig | None = None,
    ) -> list[LocalResult]:
        mode = task.model_config.mode
        return train_jobs(
            task.model,
            task.features["train"],
            mode,
            cfg or task.train_config,
            global_vector,
            jobs,
            batched=batches_heads(task.model, mode, len(jobs)),
            view=task.head_view() if mode == "head" else None,
        )

    def close(self) -> None:
        return None


class ShippedFeatures(FeatureStore):
    """Frozen-prefix features of a fixed set of training examples, computed elsewhere.

    Indexed by the training pool's indices like the :class:`FeatureStore` it was cut from,
    and returns the same tensors (hidden states trimmed to the batch's longest example).
    It never computes: an index it does not hold is an error.
    """

    def __init__(self, store: FeatureStore, rows: np.ndarray) -> None:  # no super(): no model
        self.kind = store.kind
        self.rows = np.asarray(rows, dtype=np.int64)  # sorted, unique pool indices
        idx = torch.from_numpy(self.rows)
        self.lengths = store.lengths[idx].clone()
        self.mask = store.tokens.attention_mask[idx].clone()
        self.input_ids = store.tokens.input_ids[idx].clone() if store.kind == "tokens" else None
        whole = store.batch(self.rows) if store.kind != "tokens" else Batch()
        self.pooled = whole.pooled
        self.hidden = whole.hidden

    def __len__(self) -> int:
        return len(self.rows)

    def _local(self, indices: np.ndarray) -> torch.Tensor:
        idx = np.asarray(indices, dtype=np.int64)
        local = np.searchsorted(self.rows, idx)
        if len(idx) and (local.max() >= len(self.rows) or np.any(self.rows[local] != idx)):
            raise ValueError("indices: a training example this worker was never sent")
        return torch.from_numpy(local)

    def ensure(self, indices: np.ndarray, *args: Any, **kwargs: Any) -> None:
        self._local(indices)  # everything shipped is already computed

    def batch(self, indices: np.ndarray) -> Batch:
        return Batch.of_rows(
            self._local(indices),
            self.lengths,
            self.mask,
            pooled=self.pooled,
            hidden=self.hidden,
            input_ids=self.input_ids,
        )


class _Worker:
    """A Ray actor's state: the model and the shipped features, received once."""

    def __init__(self, model: SentenceClassifier, features: ShippedFeatures, mode: str) -> None:
        self.model = model.cpu().eval()
        self.features = features
        self.mode = mode
        self.view = head_view(self.model) if mode == "head" else None

    def train(
        self,
        cfg: TrainConfig,
        global_vector: np.ndarray,
        jobs: list[TrainJob],
        batched: bool,
        threads: int,
    ) -> tuple[list[LocalResult], list[Mapping[str, Any]]]:
        torch.set_num_threads(threads)  # the driver's: the same kernels, the same floats
        results = train_jobs(
            self.model,
            self.features,
            self.mode,
            cfg,
            global_vector,
            jobs,
            batched=batched,
            view=self.view,
        )
        return results, [job.rng.bit_generator.state for job in jobs]


def _plain(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` as a bare ``TrainConfig`` (a subclass, e.g. a scenario section, stays home)."""
    if type(cfg) is TrainConfig:
        return cfg
    return TrainConfig(**{name: getattr(cfg, name) for name in TrainConfig.__dataclass_fields__})


class RayBackend:
    """Local training as Ray actors, one per CPU of the cluster (or ``workers``).

    Args:
        address: ``None`` (start a Ray runtime on this machine, or join the one this
            process is already connected to), ``"auto"`` (the cluster this node belongs
            to), ``"ray://host:port"`` (Ray Client) or ``"host:port"`` (a head's GCS).
        workers: actors to start; ``None``: the cluster's CPUs.

    Every node must have fedmarket and the ``ray`` extra installed (the same code and
    versions as the driver); workers compute on their CPU.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, workers: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError(
                "train.backend: 'ray' needs the ray extra; pip install -e '.[ray]'"
            ) from None
        self._ray = ray
        self.address = address
        self.started_here = not ray.is_initialized()
        if self.started_here:
            local: dict[str, Any] = {"_node_ip_address": "127.0.0.1"} if address is None else {}
            ray.init(  # a runtime started here listens on the loopback interface only
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                **local,
            )
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.n_workers = max(1, workers if workers is not None else cpus)
        self._actors: list[Any] = []
        self._rows = np.zeros(0, dtype=np.int64)
        self._shipped_for: int | None = None  # id of the features store shipped
        self._finalizer = weakref.finalize(self, _shutdown, ray, self._actors, self.started_here)

    def _ship(self, task: TrainingTask, needed: np.ndarray) -> None:
        """Start the actors with the model and the features of ``needed`` (and of every
        training example the task has cached), unless what they hold already covers it."""
        store = task.features["train"]
        if (
            self._actors
            and self._shipped_for == id(store)
            and np.all(np.isin(needed, self._rows, assume_unique=False))
        ):
            return
        rows = np.union1d(needed, task.cached_train_indices())
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors.clear()
        ray = self._ray
        model_ref = ray.put(task.model)
        features_ref = ray.put(ShippedFeatures(store, rows))
        actor_class = ray.remote(num_cpus=1)(_Worker)
        for _ in range(self.n_workers):
            self._actors.append(actor_class.remote(model_ref, features_ref, task.model_config.mode))
        self._rows, self._shipped_for = rows, id(store)

    def map(
        self,
        task: TrainingTask,
        global_vector: np.ndarray,
        jobs: Sequence[TrainJob],
        *,
        cfg: TrainConfig | None = None,
    ) -> list[LocalResult]:
        if not jobs:
            return []
        needed = np.unique(np.concatenate([np.asarray(j.shard, dtype=np.int64) for j in jobs]))
        self._ship(task, needed)
        mode = task.model_config.mode
        batched = batches_heads(task.model, mode, len(jobs))
        config = _plain(cfg or task.train_config)
        threads = 1 if mode == "head" else torch.get_num_threads()
        vector_ref = self._ray.put(np.asarray(global_vector, dtype=np.float32))
        chunks = [c for c in np.array_split(np.arange(len(jobs)), len(self._actors)) if len(c)]
        refs = [
            actor.train.remote(config, vector_ref, [jobs[i] for i in chunk], batched, threads)
            for actor, chunk in zip(self._actors, chunks, strict=False)
        ]
        results: list[LocalResult] = []
        for chunk, (chunk_results, states) in zip(chunks, self._ray.get(refs), strict=True):
            for i, state in zip(chunk, states, strict=True):
                jobs[i].rng.bit_generator.state = state  # as if it had trained here
            results.extend(chunk_results)
        return results

    def close(self) -> None:
        """Stop the actors (and the Ray runtime, when this backend started it)."""
        self._finalizer()


def _shutdown(ray: Any, actors: list[Any], started_here: bool) -> None:
    for actor in actors:
        try:
            ray.kill(actor)
        except Exception:  # noqa: BLE001  # the cluster may already be gone at exit
            pass
    actors.clear()
    if started_here and ray.is_initialized():
        ray.shutdown()


def make_backend(cfg: TrainConfig) -> TrainingBackend:
    """The backend ``cfg.backend`` names (``cfg.ray_address`` for ``"ray"``)."""
    if cfg.backend == "ray":
        return RayBackend(cfg.ray_address)
    if cfg.backend == "local":
        return LocalBackend()
    raise ValueError(f"train.backend: unknown {cfg.backend!r}; use one of {BACKENDS}")
