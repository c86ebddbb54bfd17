"""A decoder-only language model as the fine-tuning backbone (SmolLM2-135M, a tiny Llama).

:class:`CausalClassifier` puts a classification head on a Llama-architecture decoder
(SmolLM2, Allal et al. 2025, arXiv 2502.02737; its language-model head is dropped) and keeps
the interface of :class:`fl_core.classifier.SentenceClassifier`, so training, the feature caches
and the evaluators use it unchanged:

* **LoRA** (Hu et al. 2021, arXiv 2106.09685) on the attention projections of the top
  ``adapted_layers`` decoder blocks; ``target_modules`` keeps the BERT names of the
  configuration (query, key, value, dense -> ``q_proj``, ``k_proj``, ``v_proj``,
  ``o_proj``). Everything else is frozen.
* **Pooling: the mask-weighted mean** of the final (normed) hidden states, as for MiniLM.
  A causal token only sees its left context, so the last token is the one state that has
  read the whole text, and LlamaForSequenceClassification pools it; but the backbone here
  is mostly *frozen* (head mode, and LoRA on 2 of 30 blocks), and a frozen decoder's last
  state is shaped for predicting the next token, not for summarising the text. SGPT
  (Muennighoff 2022, arXiv 2202.08904) found mean pooling of decoder states far better than
  the last token for frozen-decoder embeddings; ``bench/smollm2_backbone.py`` measures both
  on the reviews. ``pooling="last"`` is kept for that comparison.
* **Padding on the right**, with the tokenizer's pad token (SmolLM2's is its
  end-of-sequence token ``<|im_end|>``). Under the causal mask a real token never attends to
  a pad to its right, and positions are ``0..T-1`` from the left, so a real token's states
  do not depend on how much padding follows it: the frozen prefix can be cached per example
  and trimmed to any batch width (the same contract as the encoder's), and the mean over the
  attention mask (or the last real token) never reads a pad state.

The prefix/suffix split runs the decoder blocks directly (rotary position embeddings and an
additive causal + key-padding mask); ``forward_tokens`` runs transformers' own forward (its
own mask construction), so the two are tested against each other.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from fl_core.classifier import SentenceClassifier, assemble_classifier, mean_pool
from fl_core.config import ModelConfig
from fl_core.hub import quiet_transformers
from fl_core.smollm2 import TINY_CAUSAL_CONFIG as TINY_CAUSAL_CONFIG  # re-exported
from fl_core.smollm2 import smollm2_dir
from fl_core.tokenizer import load_tokenizer

Pooling = Literal["mean", "last"]

LLAMA_MODULES: dict[str, str] = {
    "query": "q_proj",
    "key": "k_proj",
    "value": "v_proj",
    "dense": "o_proj",
}
"""The configuration's (BERT) target-module names -> the Llama attention projections."""


def causal_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, T) 0/1 key mask -> (B, 1, T, T) additive mask: causal and no padded keys."""
    t = attention_mask.shape[1]
    lower = torch.ones((t, t), dtype=torch.bool, device=attention_mask.device).tril()
    allowed = lower[None, None] & attention_mask[:, None, None, :].bool()
    blocked = torch.zeros(allowed.shape, dtype=dtype, device=attention_mask.device)
    return blocked.masked_fill_(~allowed, torch.finfo(dtype).min)


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The state of each row's last real token (right padding: position ``length - 1``)."""
    last = (attention_mask.sum(1) - 1).clamp(min=0)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def build_decoder(cfg: ModelConfig, seed: int) -> nn.Module:
    """The bare decoder (``LlamaModel``, no LM head) with pretrained or seeded random weights."""
    from transformers import AutoConfig, AutoModel, LlamaConfig

    quiet_transformers()
    torch.manual_seed(seed)
    if cfg.backbone == "tiny_causal":
        tokenizer = load_tokenizer("tiny_causal")
        config = LlamaConfig(
            vocab_size=tokenizer.vocab_size,
            pad_token_id=tokenizer.pad_token_id,
            **TINY_CAUSAL_CONFIG,
        )
        return AutoModel.from_config(config, attn_implementation="sdpa")
    if cfg.backbone != "smollm2":
        raise ValueError(f"model.backbone: {cfg.backbone!r} is not a causal backbone")
    path = str(smollm2_dir())
    if cfg.init == "pretrained":
        return AutoModel.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    config = AutoConfig.from_pretrained(path)
    return AutoModel.from_config(config, attn_implementation="sdpa")


class CausalClassifier(SentenceClassifier):
    """Decoder blocks + final norm + pooling + head, split at ``first_trainable_layer``.

    The same contract as :class:`SentenceClassifier`: ``encode_prefix`` gives the states
    entering the first trainable block (before the final norm), ``forward_hidden`` runs the
    rest from them, ``forward_tokens`` is transformers' full forward.
    """

    def __init__(
        self,
        decoder: nn.Module,
        head: nn.Module,
        first_trainable_layer: int,
        pooling: Pooling = "mean",
    ) -> None:
        super().__init__(decoder, head, first_trainable_layer)
        if pooling not in ("mean", "last"):
            raise ValueError(f"pooling: unknown {pooling!r}; use 'mean' or 'last'")
        self.pooling = pooling

    @property
    def n_layers(self) -> int:
        return len(self.bert.layers)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Final RMSNorm, then the mean over real tokens (or the last real token)."""
        hidden = self.bert.norm(hidden)
        if self.pooling == "last":
            return last_token_pool(hidden, attention_mask)
        return mean_pool(hidden, attention_mask)

    def attention_bias(self, attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The additive attention mask of the decoder blocks (:func:`causal_mask`)."""
        return causal_mask(attention_mask, dtype)

    def _run_layers(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int, stop: int
    ) -> torch.Tensor:
        layers = self.bert.layers[start:stop]
        if len(layers) == 0:
            return hidden
        positions = torch.arange(hidden.shape[1], device=hidden.device)[None]
        rotary = self.bert.rotary_emb(hidden, position_ids=positions)
        mask = self.attention_bias(attention_mask, hidden.dtype)
        for layer in layers:
            hidden = layer(
                hidden, attention_mask=mask, position_ids=positions, position_embeddings=rotary
            )
        return hidden

    def encode_prefix(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Hidden states entering the first trainable block (frozen part of the network)."""
        hidden = self.bert.embed_tokens(input_ids)
        return self._run_layers(hidden, attention_mask, 0, self.first_trainable_layer)

    def forward_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Plain path: transformers' (peft) decoder forward, then pooling and head."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        hidden = out.last_hidden_state  # already normed by the decoder: pool without it
        if self.pooling == "last":
            return self.head(last_token_pool(hidden, attention_mask))
        return self.head(mean_pool(hidden, attention_mask))


def build_causal_classifier(
    cfg: ModelConfig, n_classes: int, seed: int, pooling: Pooling = "mean"
) -> CausalClassifier:
    """Build the causal classifier with only adapter (LoRA mode) and head weights trainable."""
    decoder: Any = build_decoder(cfg, seed)
    return assemble_classifier(
        lambda backbone, head, first: CausalClassifier(backbone, head, first, pooling),
        decoder,
        cfg,
        n_classes,
        seed,
        n_layers=len(decoder.layers),
        width=int(decoder.config.hidden_size),
        target_modules=[LLAMA_MODULES[m] for m in cfg.target_modules],
        layers_pattern="layers",
    )
