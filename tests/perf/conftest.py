"""Tiny-model tasks shared by the performance-path tests (module scoped: built once)."""

from __future__ import annotations

import numpy as np
import pytest

from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig


def tiny_task(mode: str = "lora", head_hidden: int = 0, seed: int = 0) -> FederatedTask:
    return FederatedTask(
        DataConfig(val_size=100, max_length=48),
        ModelConfig(backbone="tiny", mode=mode, adapted_layers=1, head_hidden=head_hidden),
        TrainConfig(lr=0.05),
        rng=np.random.default_rng(seed),
    )


@pytest.fixture(scope="module")
def lora_task() -> FederatedTask:
    return tiny_task("lora")


@pytest.fixture(scope="module")
def head_task() -> FederatedTask:
    return tiny_task("head")


@pytest.fixture(scope="module")
def mlp_head_task() -> FederatedTask:
    return tiny_task("head", head_hidden=8)


def perturbed(task: FederatedTask, k: int, scale: float, seed: int) -> np.ndarray:
    """``k`` vectors near the task's initial one (every LoRA/head weight moved)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, scale, size=(k, len(task.initial_vector))).astype(np.float32)
    return task.initial_vector[None, :] + noise
