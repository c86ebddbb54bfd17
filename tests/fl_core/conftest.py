from __future__ import annotations

import numpy as np
import pytest

from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig


def make_task(
    mode: str = "lora", adapted_layers: int | None = 1, seed: int = 0, **train: float
) -> FederatedTask:
    return FederatedTask(
        DataConfig(val_size=100, max_length=48),
        ModelConfig(backbone="tiny", mode=mode, adapted_layers=adapted_layers),
        TrainConfig(**train),  # type: ignore[arg-type]  # keyword overrides from the test
        rng=np.random.default_rng(seed),
    )


@pytest.fixture(scope="module")
def tiny_task() -> FederatedTask:
    return make_task()
