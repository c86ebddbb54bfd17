"""The causal backbone (``tiny_causal``: a 2-block random Llama) as a fine-tuning backbone.

Mutations tried here (each must make a test fail): a bidirectional mask in place of the
causal one (``Bidirectional`` below: the cached path no longer equals transformers' forward);
left padding (``test_logits_do_not_depend_on_padding`` asserts that the feature cache's
trimming then cuts the text: rotary positions are relative, so left padding alone would be
harmless, but the cache trims from the right); dropping the final norm in ``pool``
(tried by hand: the cached-vs-plain logit difference grows from 1e-7 to 0.67).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig
from fl_core.causal import (
    TINY_CAUSAL_CONFIG,
    CausalClassifier,
    build_causal_classifier,
    causal_mask,
)
from fl_core.features import FeatureStore, tokenize
from fl_core.model import build_classifier, load_tokenizer
from fl_core.vector import get_vector, layout_of, set_vector
from tests.fl_core.conftest import make_task, short_fedavg, train_shard

ALL_MODULES = ("query", "key", "value", "dense")


def _task(mode: str, adapted_layers: int | None = 1) -> FederatedTask:
    return make_task(mode, adapted_layers, backbone="tiny_causal")


@pytest.fixture(scope="module")
def lora_task() -> FederatedTask:
    return _task("lora")


def _perturbed(task: FederatedTask, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=task.layout.size).astype(np.float32)
    return np.asarray(task.initial_vector + 0.2 * noise, dtype=np.float32)


def test_lora_sits_on_the_attention_projections_of_the_top_blocks() -> None:
    cfg = ModelConfig(backbone="tiny_causal", adapted_layers=1, target_modules=ALL_MODULES)
    model = build_classifier(cfg, 2, seed=0)
    assert isinstance(model, CausalClassifier) and model.first_trainable_layer == 1
    names = [b.name for b in layout_of(model).blocks]
    assert names[-2:] == ["head.weight", "head.bias"]
    adapted = {n.split(".self_attn.")[1].split(".")[0] for n in names[:-2]}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert all(".layers.1.self_attn." in n and "lora_" in n for n in names[:-2])
    width, r = TINY_CAUSAL_CONFIG["hidden_size"], 8
    kv = (
        width
        // TINY_CAUSAL_CONFIG["num_attention_heads"]
        * TINY_CAUSAL_CONFIG["num_key_value_heads"]
    )
    # q and o: (r x 32) + (32 x r); k and v project to the 2 key/value heads (16 wide)
    assert layout_of(model).size == 2 * (2 * r * width) + 2 * (r * width + kv * r) + width * 2 + 2
    head = build_classifier(ModelConfig(backbone="tiny_causal", mode="head"), 3, seed=0)
    assert [n for n, p in head.named_parameters() if p.requires_grad] == [
        "head.weight",
        "head.bias",
    ]


class Bidirectional(CausalClassifier):
    """A broken variant: padding-only mask, every token sees its right context."""

    def attention_bias(self, attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        t = attention_mask.shape[1]
        return causal_mask(attention_mask, dtype)[:, :, -1:, :].expand(-1, -1, t, -1)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_cached_prefix_path_equals_transformers_forward(pooling: str) -> None:
    cfg = ModelConfig(backbone="tiny_causal", adapted_layers=1, target_modules=ALL_MODULES)
    model = build_causal_classifier(cfg, 2, seed=0, pooling=pooling)  # type: ignore[arg-type]
    vector = get_vector(model)
    set_vector(model, vector + 0.3 * np.random.default_rng(1).normal(size=vector.size))
    tokenizer = load_tokenizer("tiny_causal")
    texts = ["good coffee, would buy again", "stale", "the tea was fine but the box was crushed"]
    encoded = tokenizer(texts, padding="max_length", max_length=16, return_tensors="pt")
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    with torch.inference_mode():
        plain = model.forward_tokens(ids, mask)
        cached = model.forward_hidden(model.encode_prefix(ids, mask), mask)
        broken = Bidirectional(model.encoder, model.head, 1, pooling)  # type: ignore[arg-type]
        wrong = broken.forward_hidden(broken.encode_prefix(ids, mask), mask)
    assert torch.max(torch.abs(plain - cached)).item() < 1e-5
    assert torch.max(torch.abs(plain - wrong)).item() > 1e-3  # the test can fail


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_logits_do_not_depend_on_padding(pooling: str) -> None:
    model = build_causal_classifier(
        ModelConfig(backbone="tiny_causal", mode="head"),
        2,
        seed=0,
        pooling=pooling,  # type: ignore[arg-type]
    )
    tokenizer = load_tokenizer("tiny_causal")
    assert tokenizer.padding_side == "right"
    text = ["a decent snack for the price"]
    short = tokenizer(text, return_tensors="pt")
    long = tokenizer(text, padding="max_length", max_length=24, return_tensors="pt")
    with torch.inference_mode():
        a = model.encode_pooled(short["input_ids"], short["attention_mask"])
        b = model.encode_pooled(long["input_ids"], long["attention_mask"])
        tokenizer.padding_side = "left"  # the mutation: the feature cache trims every batch
        try:  # to its longest real length from the right, which cuts a left-padded text
            left = tokenizer(text, padding="max_length", max_length=24, return_tensors="pt")
        finally:
            tokenizer.padding_side = "right"
        width = int(left["attention_mask"].sum())
        c = model.encode_pooled(left["input_ids"][:, :width], left["attention_mask"][:, :width])
    assert torch.max(torch.abs(a - b)).item() < 1e-5
    assert torch.max(torch.abs(a - c)).item() > 1e-3


def test_lora_task_trains_and_evaluates_on_the_cached_prefix(lora_task: FederatedTask) -> None:
    assert lora_task.features["train"].kind == "hidden"
    evaluator = lora_task.coalition_evaluator("val")
    assert evaluator.kind == "plain"
    assert "model.backbone" in getattr(evaluator.inner, "reason", "")
    vector = _perturbed(lora_task)
    assert evaluator.evaluate(vector) == lora_task.evaluate(vector)
    cached = lora_task.features["val"]
    plain = FeatureStore(lora_task.model, cached.tokens, "tokens")
    idx = np.arange(30)
    set_vector(lora_task.model, vector)
    with torch.inference_mode():
        gap = cached.batch(idx).logits(lora_task.model) - plain.batch(idx).logits(lora_task.model)
    assert torch.max(torch.abs(gap)).item() < 1e-5
    shard = np.arange(32)
    result = train_shard(lora_task, shard, samples_per_second=100.0)
    assert result.delta is not None and np.abs(result.delta).max() > 0
    lora = [b for b in lora_task.layout.blocks if "lora_B" in b.name]
    assert any(np.abs(result.delta[b.offset : b.offset + b.size]).max() > 0 for b in lora)


def test_tokens_come_from_the_backbones_tokenizer(lora_task: FederatedTask) -> None:
    val = lora_task.splits.val
    # tiny_causal shares MiniLM's tokenizer; the cache is keyed by the tokenizer's name
    assert torch.equal(
        tokenize(val, 48, use_disk=False, backbone="tiny_causal").input_ids,
        tokenize(val, 48, use_disk=False, backbone="minilm").input_ids,
    )


@pytest.mark.parametrize("mode", ["head", "lora"])
def test_short_fedavg_run(mode: str) -> None:
    result = short_fedavg(
        data=DataConfig(val_size=100, max_length=32),
        model=ModelConfig(backbone="tiny_causal", mode=mode, adapted_layers=1),
        train=TrainConfig(lr=0.05 if mode == "head" else 5e-3),
        samples_per_client=40,
        samples_per_second=100.0,
    )
    rounds = result.rounds
    assert len(rounds) == result.config.rounds + 1
    assert np.isfinite(rounds["val_loss"]).all()
    initial = build_classifier(result.config.model, 2, seed=0)
    assert result.final_vector.shape == get_vector(initial).shape
    assert rounds["val_loss"].iloc[-1] != rounds["val_loss"].iloc[0]  # the model moved


def test_config_bounds_follow_the_backbone() -> None:
    assert ModelConfig(backbone="smollm2", adapted_layers=30).adapted_layers == 30
    with pytest.raises(ValueError, match=r"^model.adapted_layers: .*\[1, 6\]"):
        ModelConfig(backbone="minilm", adapted_layers=7)
    with pytest.raises(ValueError, match=r"^model.backbone: unknown 'gpt2'; use one of"):
        ModelConfig(backbone="gpt2")
