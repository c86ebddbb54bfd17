"""Plain federated fine-tuning: FedAvg rounds over partitioned clients.

This is the marketplace-free baseline (``fedmarket fedavg``): every client joins every round,
trains within its compute bound, and the server averages. The market simulator in
``agents`` drives the same :class:`~fl_core.task.FederatedTask` with its own selection,
secure aggregation, scoring and payments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fl_core.aggregation import apply_update, make_aggregator
from fl_core.compression import sent_bytes
from fl_core.config import DataConfig, ModelConfig, TrainConfig
from fl_core.partition import (
    dirichlet_partition,
    flip_labels,
    iid_partition,
    natural_partition,
    quantity_skew_partition,
)
from fl_core.task import FederatedTask

PARTITIONS = ("iid", "dirichlet", "quantity", "natural")


@dataclass(frozen=True)
class FedAvgConfig:
    """A plain FedAvg run.

    Attributes:
        n_clients, rounds, seed: size and seed of the run.
        partition: ``iid``, ``dirichlet`` (label skew with ``alpha``), ``quantity``
            (log-normal sizes with ``sigma``) or ``natural`` (whole natural owners per
            client, :func:`fl_core.partition.natural_partition`; the task needs an owner
            column, e.g. ``drug_reviews``).
        samples_per_client: use only this many training examples per client on average
            (drawn before partitioning); ``None`` uses the whole pool.
        label_noise: share of flipped labels on every client.
        samples_per_second: each client's compute (a sequence gives one per client).
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    n_clients: int = 6
    rounds: int = 5
    seed: int = 0
    partition: str = "iid"
    alpha: float = 0.5
    sigma: float = 1.0
    samples_per_client: int | None = 300
    label_noise: float = 0.0
    samples_per_second: float | tuple[float, ...] = 3.2

    def __post_init__(self) -> None:
        if not isinstance(self.n_clients, int) or self.n_clients < 1:
            raise ValueError(f"n_clients: must be a positive integer, got {self.n_clients!r}")
        if not isinstance(self.rounds, int) or self.rounds < 0:
            raise ValueError(f"rounds: must be a non-negative integer, got {self.rounds!r}")
        if self.partition not in PARTITIONS:
            raise ValueError(f"partition: unknown {self.partition!r}; use one of {PARTITIONS}")
        if not 0 <= self.label_noise <= 1:
            raise ValueError(f"label_noise: must be in [0, 1], got {self.label_noise!r}")
        speeds = np.atleast_1d(np.asarray(self.samples_per_second, dtype=float))
        if (speeds <= 0).any() or len(speeds) not in (1, self.n_clients):
            raise ValueError(
                f"samples_per_second: give one positive speed or one per client ({self.n_clients})"
            )


@dataclass
class FedAvgResult:
    """Per-round and per-client tables of a run."""

    rounds: pd.DataFrame
    clients: pd.DataFrame
    config: FedAvgConfig
    final_vector: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def make_shards(
    cfg: FedAvgConfig,
    labels: np.ndarray,
    rng: np.random.Generator,
    owners: tuple[str, ...] | None = None,
) -> list[np.ndarray]:
    """Client shards (indices into the training pool) for the configured partition;
    ``owners`` (each example's natural owner) is needed by ``partition = "natural"``."""
    if cfg.partition == "natural" and owners is None:
        raise ValueError(
            "partition: natural needs a task with natural owners (data.dataset = "
            "'drug_reviews', or data.owner_column for a file); use iid, dirichlet or quantity"
        )
    pool = np.arange(len(labels))
    if cfg.samples_per_client is not None:
        total = min(len(labels), cfg.samples_per_client * cfg.n_clients)
        pool = np.sort(rng.choice(len(labels), size=total, replace=False))
    if cfg.partition == "iid":
        parts = iid_partition(len(pool), cfg.n_clients, rng)
    elif cfg.partition == "quantity":
        parts = quantity_skew_partition(len(pool), cfg.n_clients, rng, cfg.sigma)
    elif cfg.partition == "natural":
        assert owners is not None
        parts = natural_partition([owners[i] for i in pool], cfg.n_clients, rng)
    else:
        parts = dirichlet_partition(labels[pool], cfg.n_clients, cfg.alpha, rng)
    return [pool[p] for p in parts]


def run_fedavg(
    cfg: FedAvgConfig, *, progress: bool = False, task: FederatedTask | None = None
) -> FedAvgResult:
    """Run plain FedAvg and return its tables (round 0 is the initial model)."""
    root = np.random.default_rng(cfg.seed)
    task_rng, shard_rng, noise_rng, train_rng = root.spawn(4)
    task = task or FederatedTask(cfg.data, cfg.model, cfg.train, rng=task_rng)
    labels = task.train_labels
    shards = make_shards(cfg, labels, shard_rng, task.splits.train.owners)
    client_labels = [
        flip_labels(labels[s], cfg.label_noise, task.n_classes, noise_rng) for s in shards
    ]
    speeds = np.broadcast_to(
        np.atleast_1d(np.asarray(cfg.samples_per_second, dtype=float)), (cfg.n_clients,)
    )
    task.precompute(np.concatenate(shards), progress=progress)
    client_rngs = train_rng.spawn(cfg.n_clients)
    aggregate = make_aggregator(cfg.train.aggregator, **cfg.train.aggregator_options())
    states: list[Any] = [None] * cfg.n_clients
    vector = task.initial_vector.copy()
    round_rows: list[dict[str, Any]] = []
    client_rows: list[dict[str, Any]] = []

    def record(round_index: int, n_updates: int) -> dict[str, Any]:
        val = task.evaluate(vector, "val")
        test = task.evaluate(vector, "test")
        row = {
            "round": round_index,
            "val_accuracy": val.accuracy,
            "val_loss": val.loss,
            "test_accuracy": test.accuracy,
            "test_loss": test.loss,
            "updates": n_updates,
        }
        round_rows.append(row)
        return row

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.rounds, desc="FedAvg rounds", unit="round")
    row = record(0, 0)
    if bar is not None:
        bar.write(
            f"round 0: val acc {row['val_accuracy']:.3f}, test acc {row['test_accuracy']:.3f}"
        )
    for round_index in range(1, cfg.rounds + 1):
        deltas, weights = [], []
        for k in range(cfg.n_clients):
            result = task.train_client(
                vector,
                shards[k],
                client_labels[k],
                samples_per_second=float(speeds[k]),
                rng=client_rngs[k],
                optimizer_state=states[k],
            )
            states[k] = result.optimizer_state
            client_rows.append(
                {
                    "round": round_index,
                    "client": k,
                    "n_examples": result.n_examples,
                    "samples_processed": result.samples_processed,
                    "sample_budget": result.sample_budget,
                    "straggler": result.straggler,
                    "train_loss": result.train_loss,
                    "compute_seconds": result.compute_seconds,
                    "simulated_seconds": result.simulated_seconds,
                    "bytes_down": task.update_bytes,
                    "bytes_up": 0 if result.straggler else sent_bytes(task.layout.size, cfg.train),
                    "full_model_bytes": task.full_model_bytes,
                }
            )
            if result.delta is not None:
                deltas.append(result.delta)
                weights.append(result.n_examples)
        if deltas:
            vector = apply_update(vector, aggregate(deltas, weights), cfg.train.server_lr)
        row = record(round_index, len(deltas))
        if bar is not None:
            bar.update(1)
            bar.write(
                f"round {round_index}: val acc {row['val_accuracy']:.3f}, "
                f"test acc {row['test_accuracy']:.3f}"
            )
    if bar is not None:
        bar.close()
    rounds = pd.DataFrame(round_rows)
    rounds["majority_rate"] = task.splits.majority_rate("test")
    return FedAvgResult(rounds, pd.DataFrame(client_rows), cfg, vector)
