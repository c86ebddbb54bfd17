"""Every allowed value, numeric bound and per-mode default of the configuration.

The vocabulary of :mod:`fl_core.config`, which checks each field against it (and from which
its constants are importable too): the choices of each categorical setting, the numeric
limits, the defaults a setting takes by ``model.mode`` when it is not given, and the
predicates those checks are written with. It imports neither torch nor numpy.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

DatasetName = Literal["amazon_reviews", "bbc_news", "drug_reviews", "file"]
Backbone = Literal["minilm", "tiny", "smollm2", "tiny_causal"]
Init = Literal["pretrained", "random"]
Mode = Literal["lora", "head"]
Device = Literal["auto", "cpu", "cuda"]

DATASETS = ("amazon_reviews", "bbc_news", "drug_reviews", "file")
"""The built-in offline tasks (:mod:`fl_core.datasets`) and ``file`` (the user's own data)."""
OWNER_TASKS = ("drug_reviews",)
"""Built-in tasks whose examples name a natural owner (``partition = "natural"``)."""
DEFAULT_VAL_SIZE: dict[str, int] = {
    "amazon_reviews": 500,
    "bbc_news": 300,
    "drug_reviews": 100,
    "file": 500,
}
"""The server's validation examples by ``data.dataset`` when ``data.val_size`` is omitted:
about an eighth of a small pool (drug reviews: 600) and 500 of a large one."""
BACKBONES = ("minilm", "tiny", "smollm2", "tiny_causal")
CAUSAL_BACKBONES = ("smollm2", "tiny_causal")
"""Decoder-only backbones (:mod:`fl_core.causal`): Llama blocks under a causal mask."""
RANDOM_BACKBONES = ("tiny", "tiny_causal")
"""Backbones built from a config with seeded random weights (test models)."""
INITS = ("pretrained", "random")
MODES = ("lora", "head")
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("local", "ray")
RAY_ADDRESS = re.compile(r"(?:ray://)?[A-Za-z0-9_.\-]+:[0-9]{1,5}")
"""``host:port`` of a Ray head's GCS, or ``ray://host:port`` (Ray Client)."""
COMPRESSIONS = ("none", "int8", "topk")
"""Update compression modes (:mod:`fl_core.compression`)."""
TARGET_MODULES = ("query", "key", "value", "dense")

MAX_LORA_RANK = 64
MAX_LAYERS = 6
"""all-MiniLM-L6-v2 has 6 encoder layers (the tiny backbone 2; more is clipped to all)."""
MAX_CAUSAL_LAYERS = 30
"""SmolLM2-135M has 30 decoder blocks (the tiny causal backbone 2; more is clipped to all)."""
MAX_HEAD_HIDDEN = 1024
MIN_VAL_SIZE, MAX_VAL_SIZE = 20, 100_000
MIN_LENGTH, MAX_LENGTH = 8, 512
MAX_BATCH_SIZE = 1024
MAX_LOCAL_EPOCHS = 100
MAX_DEADLINE_S = 1e7
"""With a speed of at most 1e9 samples/s the per-round sample budget stays an int64."""

DEFAULT_LR: dict[str, float] = {"lora": 5e-3, "head": 5e-2}
"""AdamW learning rate by ``model.mode`` when ``train.lr`` is not given. LoRA adapters are
fine-tuned with small steps (Hu et al. 2021 use 1e-4..5e-3); a freshly initialised head on
frozen embeddings needs ten times that to learn within a few rounds of a few local steps."""

DEFAULT_MAX_LENGTH: dict[str, int] = {"lora": 96, "head": 128}
"""Tokens per review by ``model.mode`` when ``data.max_length`` is not given. LoRA trains and
evaluates every coalition through the adapted layer on every token, so it reads 96 (most
reviews whole: median 68 tokens, mean 99); head mode embeds each review once (cached), so it
reads 128. Measured (issue 16): the demo reaches test accuracy 0.787 at 64 tokens and 0.808
at 96 (``bench/demo.py``); head mode's defaults gain 0.096 over the majority rate at 96 and
0.102 at 128 (``tests/fl_core/test_defaults_learn.py``)."""

DEFAULT_LOCAL_EPOCHS: dict[str, float] = {"lora": 1.0, "head": 4.0}
"""Local passes over the shard by ``model.mode`` when ``train.local_epochs`` is not given
(the compute bound ``samples_per_second * deadline_s`` still applies). A head step costs
microseconds on cached embeddings, and with small shards one pass is one or two steps: too
few for a head to learn in 5 rounds. Measured with FedAvg on MiniLM embeddings, 5 rounds,
majority rate 0.658 (``tests/fl_core/test_defaults_learn.py``): lr 5e-3 x 1 epoch reaches
0.729 (6 x 300 examples) and 0.660 (200 x 16); lr 5e-2 x 4 epochs 0.760 and 0.760."""


def check(condition: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(message)


def is_integer(value: Any) -> bool:
    """An int (never a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (never a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def int_in(value: Any, low: int, high: int | None = None) -> bool:
    """An int (never a bool) in ``[low, high]`` (no upper bound when ``high`` is None)."""
    return is_integer(value) and value >= low and (high is None or value <= high)


def is_text(value: Any) -> bool:
    """A non-empty string."""
    return isinstance(value, str) and bool(value)
