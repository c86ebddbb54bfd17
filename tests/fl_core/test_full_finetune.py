"""Full fine-tuning (:mod:`fl_core.full_finetune`) on the tiny backbone.

The trainable vector is exactly the named weights; the cached prefix of a truncated model
gives the model's own full forward (and a stale cache, the broken variant, does not);
training moves only the named weights; bad input is one line naming the field.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F  # noqa: N812 (the conventional torch alias)

from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig
from fl_core.full_finetune import FullFineTuneConfig, full_finetune_task, make_full_finetune
from fl_core.vector import set_vector

DATA = DataConfig(val_size=40, max_length=24)
TRAIN = TrainConfig(device="cpu", lr=1e-3, local_epochs=1.0)


def _task(full: FullFineTuneConfig, seed: int = 0) -> FederatedTask:
    return full_finetune_task(
        DATA, ModelConfig(backbone="tiny"), TRAIN, full, rng=np.random.default_rng(seed)
    )


def _names(task: FederatedTask) -> list[str]:
    return [block.name for block in task.layout.blocks]


def _plain_loss(task: FederatedTask, vector: np.ndarray) -> float:
    """Validation loss of ``vector`` through the model's whole forward (no cache)."""
    model = task.model
    set_vector(model, vector)
    tokens = task.features["val"].tokens
    with torch.no_grad():
        logits = model.forward_tokens(tokens.input_ids, tokens.attention_mask)
    labels = torch.from_numpy(task.splits.val.labels.astype(np.int64))
    return float(F.cross_entropy(logits, labels))


def test_trainable_vector_is_the_named_weights() -> None:
    # Prepare
    top = _task(FullFineTuneConfig(layers=1))
    every = _task(FullFineTuneConfig(), seed=0)
    # Execute
    top_names, every_names = _names(top), _names(every)
    # Assert: the top layer (index 1 of 2) and the head; no adapter anywhere
    assert all(n.startswith(("encoder.encoder.layer.1.", "head.")) for n in top_names)
    assert any(n.startswith("encoder.encoder.layer.1.") for n in top_names)
    assert not any("lora_" in n for n, _ in top.model.named_parameters())
    layer = top.model.bert.encoder.layer[1]
    head = sum(p.numel() for p in top.model.head.parameters())
    assert top.layout.size == sum(p.numel() for p in layer.parameters()) + head
    # every weight: embeddings and both layers (the unused pooler stays frozen)
    assert any("word_embeddings" in n for n in every_names)
    assert any(n.startswith("encoder.encoder.layer.0.") for n in every_names)
    assert not any("pooler" in n for n in every_names)
    assert every.features["train"].kind == "tokens"
    assert top.features["train"].kind == "hidden"


def test_truncated_model_keeps_its_bottom_layers() -> None:
    task = _task(FullFineTuneConfig(layers=1, keep_layers=1))
    assert task.model.n_layers == 1 and task.model.first_trainable_layer == 0
    assert all(n.startswith(("encoder.encoder.layer.0.", "head.")) for n in _names(task))


@pytest.mark.parametrize("full", [FullFineTuneConfig(layers=1), FullFineTuneConfig(1, 1)])
def test_cached_prefix_gives_the_full_forward(full: FullFineTuneConfig) -> None:
    # Prepare: a vector away from the initial one
    task = _task(full)
    rng = np.random.default_rng(1)
    vector = task.initial_vector + 0.05 * rng.standard_normal(task.layout.size).astype(np.float32)
    # Execute
    cached = task.evaluate(vector, "val").loss
    plain = _plain_loss(task, vector)
    # Assert
    assert cached == pytest.approx(plain, abs=1e-4)


def test_a_stale_prefix_cache_is_caught() -> None:
    """The broken variant: caches filled for the untruncated model, then the model
    truncated without rebuilding them. The comparison above must see the difference."""
    task = FederatedTask(
        DATA,
        ModelConfig(backbone="tiny", lora_rank=1, adapted_layers=1),
        TRAIN,
        rng=np.random.default_rng(0),
    )
    task.precompute()  # prefix = layer 0's output, cached
    stale = dict(task.features)  # the stores as they were (the dict is rebuilt in place)
    make_full_finetune(task, FullFineTuneConfig(layers=1, keep_layers=1))
    task.features = stale  # undo the rebuild: the cache now holds the wrong prefix
    task._evaluators.clear()
    vector = task.initial_vector
    assert abs(task.evaluate(vector, "val").loss - _plain_loss(task, vector)) > 1e-3


def test_training_moves_only_the_named_weights() -> None:
    task = _task(FullFineTuneConfig(layers=1))
    frozen = {n: p.detach().clone() for n, p in task.model.named_parameters() if ".layer.0." in n}
    shard = np.arange(32)
    result = task.train_client(
        task.initial_vector,
        shard,
        task.train_labels[shard],
        samples_per_second=1e6,
        rng=np.random.default_rng(0),
    )
    assert result.delta is not None and np.abs(result.delta).max() > 0
    layer = [b for b in task.layout.blocks if b.name.startswith("encoder.encoder.layer.1.")]
    moved = [np.abs(result.delta[b.offset : b.offset + b.size]).max() for b in layer]
    assert max(moved) > 0  # the layer's own weights train, not only the head
    for name, parameter in task.model.named_parameters():
        if name in frozen:
            assert torch.equal(parameter, frozen[name]), name


def test_same_seed_same_update() -> None:
    deltas = []
    for _ in range(2):
        task = _task(FullFineTuneConfig(layers=1), seed=3)
        shard = np.arange(16)
        result = task.train_client(
            task.initial_vector,
            shard,
            task.train_labels[shard],
            samples_per_second=1e6,
            rng=np.random.default_rng(5),
        )
        assert result.delta is not None
        deltas.append(result.delta)
    np.testing.assert_array_equal(deltas[0], deltas[1])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"layers": 0}, "full.layers"),
        ({"keep_layers": 7}, "full.keep_layers"),
        ({"layers": 3, "keep_layers": 2}, "full.layers"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        FullFineTuneConfig(**kwargs)


def test_bad_task_input_names_the_field() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="^train.lr:"):
        full_finetune_task(
            DATA,
            ModelConfig(backbone="tiny"),
            TrainConfig(local_epochs=1.0),
            FullFineTuneConfig(),
            rng=rng,
        )
    with pytest.raises(ValueError, match="^train.local_epochs:"):
        full_finetune_task(
            DATA, ModelConfig(backbone="tiny"), TrainConfig(lr=1e-3), FullFineTuneConfig(), rng=rng
        )
    with pytest.raises(ValueError, match="^model.backbone:"):
        full_finetune_task(
            DATA, ModelConfig(backbone="tiny_causal"), TRAIN, FullFineTuneConfig(), rng=rng
        )
    with pytest.raises(ValueError, match="^full.keep_layers:"):  # tiny has 2 layers
        full_finetune_task(
            DATA, ModelConfig(backbone="tiny"), TRAIN, FullFineTuneConfig(1, 3), rng=rng
        )
    cached = FederatedTask(DATA, ModelConfig(backbone="tiny"), TRAIN, rng=rng)
    with pytest.raises(ValueError, match="^full.layers:"):  # embeddings need plain=True
        make_full_finetune(cached, FullFineTuneConfig())
