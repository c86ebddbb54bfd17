from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fl_core import (
    DataConfig,
    FedAvgConfig,
    FedAvgResult,
    FederatedTask,
    LocalResult,
    ModelConfig,
    TrainConfig,
    run_fedavg,
)


def make_task(
    mode: str = "lora",
    adapted_layers: int | None = 1,
    seed: int = 0,
    *,
    backbone: str = "tiny",
    lora_dropout: float = 0.0,
    **train: Any,
) -> FederatedTask:
    """A task on a tiny backbone (100 validation examples of 48 tokens); ``train``: the
    ``TrainConfig`` fields."""
    return FederatedTask(
        DataConfig(val_size=100, max_length=48),
        ModelConfig(
            backbone=backbone, mode=mode, adapted_layers=adapted_layers, lora_dropout=lora_dropout
        ),
        TrainConfig(**train),
        rng=np.random.default_rng(seed),
    )


def train_shard(
    task: FederatedTask,
    shard: np.ndarray,
    *,
    samples_per_second: float,
    seed: int = 0,
    **options: Any,
) -> LocalResult:
    """One client's local training from the task's initial vector, on ``shard`` with its
    own labels; ``options``: the other keywords of ``train_client``."""
    return task.train_client(
        task.initial_vector,
        shard,
        task.train_labels[shard],
        samples_per_second=samples_per_second,
        rng=np.random.default_rng(seed),
        **options,
    )


def short_fedavg(task: FederatedTask | None = None, **fields: Any) -> FedAvgResult:
    """``run_fedavg`` of 3 clients for 2 rounds; ``fields``: the other ``FedAvgConfig`` fields."""
    return run_fedavg(FedAvgConfig(n_clients=3, rounds=2, **fields), task=task)


@pytest.fixture(scope="module")
def tiny_task() -> FederatedTask:
    return make_task()
