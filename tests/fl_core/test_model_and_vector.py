"""The flat adapter vector, the cached prefix path, and the model variants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fl_core import FederatedTask, ModelConfig
from fl_core.features import FeatureStore
from fl_core.model import TINY_CONFIG, build_classifier
from fl_core.vector import get_vector, layout_of, set_vector

from .conftest import make_task


def test_vector_round_trip_and_layout() -> None:
    model = build_classifier(ModelConfig(backbone="tiny", adapted_layers=None), 2, seed=0)
    layout = layout_of(model)
    vector = get_vector(model)
    assert vector.dtype == np.float32 and vector.shape == (layout.size,)
    # LoRA r=8 on query and value of both tiny layers (A: 8x32, B: 32x8), then Linear(32, 2)
    hidden, layers = TINY_CONFIG["hidden_size"], TINY_CONFIG["num_hidden_layers"]
    assert layout.size == layers * 2 * (2 * 8 * hidden) + hidden * 2 + 2
    names = [b.name for b in layout.blocks]
    assert names[-2:] == ["head.weight", "head.bias"]
    assert all("lora_" in n for n in names[:-2])
    offsets = [b.offset for b in layout.blocks]
    assert offsets == sorted(offsets) and offsets[0] == 0
    new = np.random.default_rng(1).normal(size=layout.size).astype(np.float32)
    set_vector(model, new)
    assert np.array_equal(get_vector(model), new)


def test_only_adapters_and_head_are_trainable() -> None:
    model = build_classifier(ModelConfig(backbone="tiny", adapted_layers=1), 2, seed=0)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all(("lora_" in n and ".layer.1." in n) or n.startswith("head.") for n in trainable)
    head_model = build_classifier(ModelConfig(backbone="tiny", mode="head", head_hidden=16), 2, 0)
    assert all(n.startswith("head.") for n, p in head_model.named_parameters() if p.requires_grad)


def test_cached_prefix_path_equals_plain_path_in_eval_mode(tiny_task: FederatedTask) -> None:
    rng = np.random.default_rng(0)
    vector = tiny_task.initial_vector + 0.05 * rng.normal(size=tiny_task.layout.size).astype(
        np.float32
    )
    set_vector(tiny_task.model, vector)
    cached = tiny_task.features["val"]
    plain = FeatureStore(tiny_task.model, cached.tokens, "tokens")
    idx = np.arange(40)
    with torch.inference_mode():
        a = cached.batch(idx).logits(tiny_task.model)
        b = plain.batch(idx).logits(tiny_task.model)
    assert torch.max(torch.abs(a - b)).item() < 1e-5


@pytest.mark.parametrize("kind", ["hidden", "pooled"])
def test_prefix_cache_equal_with_parallel_workers(tiny_task: FederatedTask, kind: str) -> None:
    """Workers on separate batches fill the cache with the single-threaded pass's numbers,
    every example in its own row (a worker writing another batch's rows would fail this)."""
    tokens = tiny_task.features["val"].tokens
    idx = np.arange(len(tokens))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        serial = FeatureStore(tiny_task.model, tokens, kind, batch_size=8, workers=1)
        parallel = FeatureStore(tiny_task.model, tokens, kind, batch_size=8, workers=2)
        serial.ensure(idx)
        parallel.ensure(idx)
        assert torch.get_num_threads() == 2  # restored after the workers
    finally:
        torch.set_num_threads(threads)
    a, b = serial.batch(idx), parallel.batch(idx)
    for x, y in ((a.hidden, b.hidden), (a.pooled, b.pooled)):
        assert (x is None) == (y is None)
        if x is not None:
            assert torch.equal(x, y)
    assert len({row.tobytes() for row in (a.hidden if kind == "hidden" else a.pooled).numpy()}) > 1


def test_feature_store_rejects_zero_workers(tiny_task: FederatedTask) -> None:
    with pytest.raises(ValueError, match="workers"):
        FeatureStore(tiny_task.model, tiny_task.features["val"].tokens, "hidden", workers=0)


def test_random_init_differs_from_seed_to_seed_but_not_within_a_seed() -> None:
    a = build_classifier(ModelConfig(backbone="tiny"), 2, seed=3)
    b = build_classifier(ModelConfig(backbone="tiny"), 2, seed=3)
    c = build_classifier(ModelConfig(backbone="tiny"), 2, seed=4)
    sa, sb, sc = (
        dict(m.named_parameters())["encoder.base_model.model.embeddings.word_embeddings.weight"]
        for m in (a, b, c)
    )
    assert torch.equal(sa, sb) and not torch.equal(sa, sc)


def test_head_mode_embeddings_are_cached_on_disk() -> None:
    first = make_task(mode="head")
    first.precompute()
    second = make_task(mode="head")
    # the second task finds every val/test embedding on disk without computing
    assert second.features["val"]._done.all() and second.features["test"]._done.all()
    assert torch.equal(
        first.features["val"].batch(np.arange(10)).pooled,
        second.features["val"].batch(np.arange(10)).pooled,
    )
