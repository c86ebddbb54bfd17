"""Every built-in task with the real backbones: MiniLM in LoRA and head mode, SmolLM2-135M in
head mode (Amazon with SmolLM2 is covered by ``test_smollm2_backbone.py``). One short round
each: the run finishes, scores every test example and keeps its classes."""

from __future__ import annotations

import numpy as np
import pytest

from fl_core import DataConfig, FedAvgConfig, ModelConfig, TrainConfig, run_fedavg
from fl_core.datasets import TASKS

pytestmark = pytest.mark.slow

CASES = [(name, "minilm", mode) for name in TASKS for mode in ("lora", "head")] + [
    ("bbc_news", "smollm2", "head"),
    ("drug_reviews", "smollm2", "head"),
]


@pytest.mark.parametrize(("name", "backbone", "mode"), CASES)
def test_real_backbone_trains_on_task(name: str, backbone: str, mode: str) -> None:
    cfg = FedAvgConfig(
        data=DataConfig(dataset=name, max_length=32, val_size=40),
        model=ModelConfig(backbone=backbone, mode=mode),
        train=TrainConfig(),
        n_clients=3,
        rounds=1,
        samples_per_client=16,
        partition="natural" if TASKS[name].owner_column else "iid",
    )
    result = run_fedavg(cfg)
    final = result.rounds.iloc[-1]
    assert 0.0 < final["test_accuracy"] <= 1.0
    assert np.isfinite(result.clients["train_loss"]).all()
    assert np.isfinite(result.final_vector).all()
