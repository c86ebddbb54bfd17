"""One federated fine-tuning task: data splits, the model, and their caches.

:class:`FederatedTask` is what rounds, clients and contribution scoring share. It owns one
model instance whose trainable vector is swapped in for every client and every coalition, so
memory stays flat in the number of participants.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fl_core.backends import (
    BATCHED_HEAD_MIN,
    TrainingBackend,
    TrainJob,
    head_view,
    make_backend,
    single_thread,
    train_jobs,
)
from fl_core.compression import compress_result, strip_residual
from fl_core.config import RANDOM_BACKBONES, DataConfig, ModelConfig, TrainConfig
from fl_core.data import DataSplits, TextDataset, load_splits
from fl_core.device import resolve_device
from fl_core.evaluation import evaluate
from fl_core.evaluators import MemoEvaluator, make_evaluator
from fl_core.features import FeatureStore, tokenize
from fl_core.metrics import Metrics
from fl_core.model import SentenceClassifier, build_classifier, count_parameters
from fl_core.training import LocalResult
from fl_core.vector import ParameterLayout, get_vector, layout_of

SPLITS = ("train", "val", "test")
__all__ = ["BATCHED_HEAD_MIN", "FederatedTask", "single_thread"]


class FederatedTask:
    """Data, model and cached features for one simulation.

    Args:
        data, model, train: the configuration (``train.device`` says where torch computes:
            the model is built on the CPU, so its initial weights do not depend on the
            device, then moved there).
        rng: the task's random stream (data splits and model initialisation draw from it).
        plain: run the whole network at every step (no prefix cache): the baseline that the
            cached path is benchmarked and tested against.
    """

    def __init__(
        self,
        data: DataConfig,
        model: ModelConfig,
        train: TrainConfig,
        *,
        rng: np.random.Generator,
        plain: bool = False,
    ) -> None:
        self.data_config = data
        self.model_config = model
        self.train_config = train
        self.device = resolve_device(train.device)  # fails fast: before loading anything
        split_rng, model_rng = rng.spawn(2)
        self.splits: DataSplits = load_splits(data, split_rng)
        self.model_seed = int(model_rng.integers(2**31 - 1))
        self.model = build_classifier(model, self.splits.n_classes, self.model_seed)
        self.model.to(self.device)
        self.layout: ParameterLayout = layout_of(self.model)
        self.initial_vector: np.ndarray = get_vector(self.model)
        self._kind = "pooled" if model.mode == "head" else ("tokens" if plain else "hidden")
        self._evaluators: dict[tuple[str, bytes], MemoEvaluator] = {}
        self._head_model: SentenceClassifier | None = None
        self._backend: TrainingBackend | None = None
        self._cached_train = np.zeros(0, dtype=np.int64)
        self.features: dict[str, FeatureStore] = {}
        for name in SPLITS:
            self.features[name] = self._feature_store(getattr(self.splits, name))

    def _feature_store(self, dataset: TextDataset) -> FeatureStore:
        model, data = self.model_config, self.data_config
        tokens = tokenize(dataset, data.resolved_max_length(model.mode), backbone=model.backbone)
        key = row_keys = None
        if self._kind == "pooled":  # keyed by model, and row by row by each text's digest
            seed_part = (
                self.model_seed
                if model.init == "random" or model.backbone in RANDOM_BACKBONES
                else ""
            )
            key = (
                "texts-"
                + hashlib.sha256(
                    f"{model.backbone}|{model.init}|{seed_part}|{data.resolved_max_length(model.mode)}".encode()
                ).hexdigest()[:20]
            )
            row_keys = dataset.text_digests()
        return FeatureStore(
            self.model,
            tokens,
            self._kind,
            batch_size=self.train_config.eval_batch_size,
            disk_key=key,
            row_keys=row_keys,
        )

    def add_examples(self, texts: Sequence[str], labels: np.ndarray) -> np.ndarray:
        """Append examples (e.g. synthetic ones) to the training pool; their indices.

        The validation and test sets are untouched. The training pool's token and feature
        caches are rebuilt for the grown pool (on disk the key is the new data fingerprint),
        so call this before training: vectors trained so far stay valid, but any evaluator
        of the ``train`` split is dropped.

        Raises:
            ValueError: texts and labels differ in length, a text is empty, or a label is
                not a class index of the task.
        """
        labels = np.asarray(labels)
        if len(texts) != len(labels):
            raise ValueError(f"labels: {len(labels)} labels for {len(texts)} texts; give one each")
        if not all(isinstance(t, str) and t.strip() for t in texts):
            raise ValueError("texts: every added example must be a non-empty string")
        if len(labels) and (
            not np.issubdtype(labels.dtype, np.integer)
            or labels.min() < 0
            or labels.max() >= self.n_classes
        ):
            raise ValueError(f"labels: must be class indices in [0, {self.n_classes - 1}]")
        train = self.splits.train
        start = len(train)
        if len(texts) == 0:
            return np.arange(start, start, dtype=np.int64)
        grown = TextDataset(
            texts=train.texts + tuple(texts),
            labels=np.concatenate([train.labels, labels.astype(train.labels.dtype)]),
            class_names=train.class_names,
            owners=None if train.owners is None else train.owners + ("synthetic",) * len(texts),
        )
        self.splits = dataclasses.replace(self.splits, train=grown)
        self.features["train"] = self._feature_store(grown)
        self._evaluators = {k: v for k, v in self._evaluators.items() if k[0] != "train"}
        return np.arange(start, len(grown), dtype=np.int64)

    @property
    def n_classes(self) -> int:
        return self.splits.n_classes

    @property
    def lr(self) -> float:
        """The learning rate local training uses (``train.lr`` or the mode's default)."""
        return self.train_config.resolved_lr(self.model_config.mode)

    @property
    def train_labels(self) -> np.ndarray:
        return self.splits.train.labels

    @property
    def update_bytes(self) -> int:
        """Bytes of one flat float32 update (what PEFT sends)."""
        return self.layout.nbytes

    @property
    def full_model_bytes(self) -> int:
        """Bytes a full-model update would take (what PEFT saves)."""
        return 4 * count_parameters(self.model)[1]

    def precompute(
        self,
        train_indices: np.ndarray | None = None,
        progress: bool = False,
        on_progress: Callable[[int, int, str], None] | None = None,
    ) -> None:
        """Fill the frozen-prefix caches for val, test and the given training examples.

        ``on_progress(done, total, label)`` is called after every batch of each split, the
        label naming the split (e.g. ``"val: caching frozen pooled"``).
        """

        def split(name: str) -> Callable[[int, int, str], None] | None:
            if on_progress is None:
                return None
            return lambda done, total, label: on_progress(done, total, f"{name}: {label}")

        for name in ("val", "test"):
            store = self.features[name]
            store.ensure(np.arange(len(store)), progress=progress, on_progress=split(name))
        if train_indices is not None:
            self.features["train"].ensure(
                np.asarray(train_indices), progress=progress, on_progress=split("train")
            )
            self._cached_train = np.union1d(self._cached_train, np.asarray(train_indices))

    def cached_train_indices(self) -> np.ndarray:
        """Training examples whose features :meth:`precompute` has filled (sorted)."""
        return self._cached_train

    @property
    def backend(self) -> TrainingBackend:
        """Where :meth:`train_clients` trains (``train.backend``; started on first use)."""
        if self._backend is None:
            self._backend = make_backend(self.train_config)
        return self._backend

    @backend.setter
    def backend(self, backend: TrainingBackend) -> None:
        self._backend = backend

    def close_backend(self) -> None:
        """Stop the training backend's workers, if any were started (a later round restarts)."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def head_view(self) -> SentenceClassifier:
        """The model reduced to its head (head mode's training steps), built once."""
        if self._head_model is None:
            self._head_model = head_view(self.model)
        return self._head_model

    def train_client(
        self,
        global_vector: np.ndarray,
        shard: np.ndarray,
        labels: np.ndarray,
        *,
        samples_per_second: float,
        rng: np.random.Generator,
        optimizer_state: dict[str, Any] | None = None,
        train: TrainConfig | None = None,
    ) -> LocalResult:
        """Local training of one client on its shard (indices into the training pool).

        In head mode only the head is trained, so the step runs on a view of the model that
        holds just the (shared) head module, on one thread: the same arithmetic, without
        walking the frozen encoder's modules on every ``train()``/``eval()`` and parameter
        listing (see :func:`single_thread`).
        """
        cfg = train or self.train_config
        optimizer_state, residual = strip_residual(optimizer_state)
        job = TrainJob(shard, labels, samples_per_second, rng, optimizer_state)
        mode = self.model_config.mode
        result = train_jobs(
            self.model,
            self.features["train"],
            mode,
            cfg,
            global_vector,
            [job],
            batched=False,
            view=self.head_view() if mode == "head" else None,
        )[0]
        return compress_result(result, cfg, rng, residual)

    def train_clients(
        self,
        global_vector: np.ndarray,
        shards: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        *,
        samples_per_second: Sequence[float],
        rngs: Sequence[np.random.Generator],
        optimizer_states: Sequence[dict[str, Any] | None],
        train: TrainConfig | None = None,
    ) -> list[LocalResult]:
        """:meth:`train_client` for several clients, in order, on :attr:`backend`.

        With a linear head in head mode and at least :data:`BATCHED_HEAD_MIN` clients, they
        train as one batch (:func:`fl_core.head_training.train_heads`: the same random draws
        and AdamW arithmetic, equal to the one-by-one path to float rounding); otherwise one
        by one. Each update is then compressed as ``train.compression`` says.
        """
        cfg = train or self.train_config
        split = [strip_residual(state) for state in optimizer_states]
        jobs = [
            TrainJob(shard, label, speed, rng, state)
            for shard, label, speed, rng, (state, _) in zip(
                shards, labels, samples_per_second, rngs, split, strict=True
            )
        ]
        results = self.backend.map(self, global_vector, jobs, cfg=train)
        # compression runs here, on the driver, after the backend handed the clients' advanced
        # random streams back: the same draws whichever backend trained
        return [
            compress_result(result, cfg, rng, residual)
            for result, rng, (_, residual) in zip(results, rngs, split, strict=True)
        ]

    def evaluate(
        self, vector: np.ndarray, split: str = "val", indices: np.ndarray | None = None
    ) -> Metrics:
        """Accuracy and loss of a trainable vector on a split (or a subset of it).

        In LoRA mode on the cached prefix this is the split's suffix evaluator (the
        arithmetic of the model's forward to float summation order, 1e-5 in loss, with the
        first adapted layer's frozen projections computed once per run; 1.4-2x faster than
        the module forward, issue 16); elsewhere the model's own forward.
        """
        if split not in SPLITS:
            raise ValueError(f"split: unknown split {split!r}; use one of {SPLITS}")
        if self._kind == "hidden":
            evaluator = self.coalition_evaluator(split, indices)
            if evaluator.kind == "suffix":
                return evaluator.evaluate(vector)
        dataset = getattr(self.splits, split)
        return evaluate(
            self.model,
            self.features[split],
            dataset.labels,
            vector,
            indices,
            batch_size=self.train_config.eval_batch_size,
        )

    def coalition_evaluator(
        self, split: str = "val", indices: np.ndarray | None = None
    ) -> MemoEvaluator:
        """The memoised evaluator of ``split`` (or of ``indices`` in it); never ``None``.

        The fastest path that supports the model (:func:`fl_core.evaluators.make_evaluator`:
        head, cached-prefix suffix, or the plain forward as fallback), on the task's device.
        One evaluator per split and index set is kept for the task's lifetime, so its cached
        projections and its memo of evaluated vectors carry over from round to round.
        """
        if split not in SPLITS:
            raise ValueError(f"split: unknown split {split!r}; use one of {SPLITS}")
        idx = None if indices is None else np.asarray(indices, dtype=np.int64)
        key = (split, b"all" if idx is None else hashlib.sha256(idx.tobytes()).digest())
        if key not in self._evaluators:
            dataset = getattr(self.splits, split)
            self._evaluators[key] = make_evaluator(
                self.model,
                self.layout,
                self.features[split],
                dataset.labels,
                idx,
                batch_size=self.train_config.eval_batch_size,
                device=self.device,
            )
        return self._evaluators[key]
