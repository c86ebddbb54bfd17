"""The backbones' tokenizers, loaded offline once each and shared."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fl_core.hub import minilm_path
from fl_core.smollm2 import smollm2_dir


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
        tokenizer = AutoTokenizer.from_pretrained(str(smollm2_dir()))
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    else:
        tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    tokenizer.padding_side = "right"
    return tokenizer
