"""FederatedTask.add_examples: the training pool grows; val and test do not."""

from __future__ import annotations

import numpy as np
import pytest

from fl_core import TrainConfig
from tests.fl_core.conftest import make_task, train_shard


def test_add_examples_grows_the_pool_and_its_features() -> None:
    task = make_task(mode="head")
    n, val = len(task.splits.train), len(task.splits.val)
    idx = task.add_examples(["tasty crackers", "stale and bland"], np.array([1, 0]))
    assert idx.tolist() == [n, n + 1]
    assert task.splits.train.texts[n:] == ("tasty crackers", "stale and bland")
    assert task.train_labels[n:].tolist() == [1, 0]
    assert len(task.splits.val) == val
    batch = task.features["train"].batch(idx)
    assert batch.pooled is not None and batch.pooled.shape[0] == 2
    assert float(batch.pooled.abs().sum()) > 0  # really encoded, not left as zeros
    result = train_shard(task, idx, samples_per_second=100.0, train=TrainConfig(min_samples=1))
    assert result.samples_processed > 0 and result.delta is not None
    assert task.add_examples([], np.array([], dtype=np.int64)).tolist() == []


@pytest.mark.parametrize(
    ("texts", "labels", "field"),
    [(["a"], [0, 1], "labels:"), ([""], [0], "texts:"), (["a"], [2], "labels:")],
)
def test_bad_examples(texts: list[str], labels: list[int], field: str) -> None:
    task = make_task(mode="head")
    with pytest.raises(ValueError, match=f"^{field}"):
        task.add_examples(texts, np.array(labels))
