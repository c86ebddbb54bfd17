"""``model.backbone = "smollm2"`` on the real SmolLM2-135M-Instruct weights (head mode).

A few dozen real reviews in a file dataset keep it to a minute or two on 2 cores.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig
from fl_core.data import load_splits
from fl_core.rounds import FedAvgConfig, run_fedavg

pytestmark = pytest.mark.slow


def _write(path: Path, texts: tuple[str, ...], labels: np.ndarray) -> str:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["review", "score"])
        for text, label in zip(texts, labels, strict=True):
            writer.writerow([text, "great" if label == 1 else "other"])
    return str(path)


@pytest.fixture(scope="module")
def small_reviews(tmp_path_factory: pytest.TempPathFactory) -> DataConfig:
    amazon = load_splits(DataConfig(), np.random.default_rng(0))
    folder = tmp_path_factory.mktemp("reviews")
    train = _write(folder / "train.csv", amazon.train.texts[:48], amazon.train.labels[:48])
    test = _write(folder / "test.csv", amazon.test.texts[:24], amazon.test.labels[:24])
    return DataConfig(dataset="file", path=train, test_path=test, val_size=20, max_length=32)


def test_smollm2_head_embeddings_and_a_run(small_reviews: DataConfig) -> None:
    model = ModelConfig(backbone="smollm2", mode="head")
    task = FederatedTask(small_reviews, model, TrainConfig(), rng=np.random.default_rng(0))
    assert task.layout.size == 576 * 2 + 2  # a linear head on SmolLM2's 576-wide states
    task.precompute(np.arange(len(task.splits.train)))
    pooled = task.features["val"].batch(np.arange(20)).pooled
    assert pooled is not None and pooled.shape == (20, 576)
    assert torch.isfinite(pooled).all() and pooled.std(0).mean() > 0
    result = run_fedavg(
        FedAvgConfig(
            data=small_reviews,
            model=model,
            train=TrainConfig(lr=0.05),
            n_clients=2,
            rounds=2,
            samples_per_client=None,
            samples_per_second=100.0,
        )
    )
    assert len(result.rounds) == 3 and np.isfinite(result.rounds["val_loss"]).all()
