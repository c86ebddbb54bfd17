"""The classifier's shape: a backbone, pooling and a small head, split into prefix and suffix.

:class:`SentenceClassifier` is the interface every backbone keeps (the BERT-style encoder
here, the decoder of :mod:`fl_core.causal` by subclassing): the backbone splits into a
frozen *prefix* (embeddings and layers below the first adapted one) and a trainable
*suffix*, so the prefix's hidden states can be computed once and cached: running the suffix
on cached hidden states gives the same logits as the full forward pass in eval mode. The
builders (:mod:`fl_core.model`, :mod:`fl_core.causal`) share :func:`assemble_classifier`:
freeze the backbone, put peft LoRA adapters (Hu et al. 2021) on its top ``adapted_layers``
layers in ``lora`` mode (none in ``head`` mode), and add the seeded head.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from fl_core.config import ModelConfig

# transformers 5 warns about its own deprecated attribute when peft inspects the model
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


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


ClassifierT = TypeVar("ClassifierT", bound=SentenceClassifier)
"""A :class:`SentenceClassifier` or a subclass (what :func:`assemble_classifier` builds)."""


def make_head(width: int, hidden: int, n_classes: int) -> nn.Module:
    """A linear head (``hidden == 0``) or a one-hidden-layer ReLU MLP."""
    if hidden == 0:
        return nn.Linear(width, n_classes)
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def assemble_classifier(
    make: Callable[[Any, nn.Module, int], ClassifierT],
    backbone: Any,
    cfg: ModelConfig,
    n_classes: int,
    seed: int,
    *,
    n_layers: int,
    width: int,
    target_modules: list[str],
    layers_pattern: str,
) -> ClassifierT:
    """Freeze ``backbone`` and adapt its top layers as ``cfg`` says (:func:`freeze_and_adapt`),
    put the head on it (seeded with ``seed + 2``) and return ``make(backbone, head, first
    trainable layer)`` in eval mode."""
    backbone, first = freeze_and_adapt(
        backbone,
        n_layers,
        cfg,
        seed,
        target_modules=target_modules,
        layers_pattern=layers_pattern,
    )
    torch.manual_seed(seed + 2)
    head = make_head(width, cfg.head_hidden if cfg.mode == "head" else 0, n_classes)
    model = make(backbone, head, first)
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
