"""Full fine-tuning: the backbone's own weights travel, not adapters (and smaller backbones).

The baseline that parameter-efficient federated fine-tuning is measured against (Zhuang et
al., "When Foundation Model Meets Federated Learning", arXiv 2306.15546, section 3: the
communication and memory cost of sending and training a whole model). A task built in LoRA
mode is turned, before any training, into one whose trainable vector is

* the top ``layers`` encoder layers' own weights and the head (``layers = k``): the frozen
  layers below stay cached exactly as in LoRA mode; or
* every weight, the token/position embeddings included (``layers = None``): the task must
  run the whole network at every step (``plain=True``, features of kind ``"tokens"``).

``keep_layers`` first truncates the encoder to its bottom layers (a smaller model: the
"MiniLM truncated to fewer layers" baseline); mean pooling then reads the last kept layer.

The LoRA adapters are removed (peft ``unload``, not merged: they were at their zero start),
so the model holds only the backbone and the head. Local training sees no ``lora_``
parameter and uses one learning rate for every trainable weight, so the training config
must name ``lr`` and ``local_epochs`` explicitly (the per-mode defaults are LoRA's and a
head's, neither right for whole layers). Only BERT-style backbones (``minilm``, ``tiny``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from fl_core.bounds import CAUSAL_BACKBONES, MAX_LAYERS, check, int_in
from fl_core.config import DataConfig, ModelConfig, TrainConfig
from fl_core.features import FeatureStore
from fl_core.task import FederatedTask
from fl_core.vector import get_vector, layout_of


@dataclass(frozen=True)
class FullFineTuneConfig:
    """Which of the backbone's own weights train.

    Attributes:
        layers: the top encoder layers (of the kept ones) whose weights train, in
            [1, 6]; ``None``: every layer and the embeddings.
        keep_layers: keep only the bottom ``keep_layers`` encoder layers, in [1, 6]
            (``None``: all); the model is smaller, its pooled output the last kept layer's.
    """

    layers: int | None = None
    keep_layers: int | None = None

    def __post_init__(self) -> None:
        check(
            self.layers is None or int_in(self.layers, 1, MAX_LAYERS),
            f"full.layers: must be an integer in [1, {MAX_LAYERS}] or omitted (every weight), "
            f"got {self.layers!r}",
        )
        check(
            self.keep_layers is None or int_in(self.keep_layers, 1, MAX_LAYERS),
            f"full.keep_layers: must be an integer in [1, {MAX_LAYERS}] or omitted (all), "
            f"got {self.keep_layers!r}",
        )
        check(
            self.layers is None or self.keep_layers is None or self.layers <= self.keep_layers,
            f"full.layers: {self.layers} trained layers but only {self.keep_layers} kept; "
            "train at most the kept layers",
        )

    @property
    def plain(self) -> bool:
        """Whether the whole network runs at every step (the embeddings train)."""
        return self.layers is None


def check_train(train: TrainConfig) -> None:
    """Full fine-tuning has no per-mode defaults: ``lr`` and ``local_epochs`` must be given."""
    check(
        train.lr is not None,
        "train.lr: full fine-tuning needs an explicit learning rate (no per-mode default)",
    )
    check(
        train.local_epochs is not None,
        "train.local_epochs: full fine-tuning needs explicit local epochs (no per-mode default)",
    )


def full_finetune_task(
    data: DataConfig,
    model: ModelConfig,
    train: TrainConfig,
    full: FullFineTuneConfig,
    *,
    rng: np.random.Generator,
) -> FederatedTask:
    """A task whose trainable vector is the weights ``full`` names (see the module docstring).

    ``model`` gives the backbone and its initialisation; its mode and LoRA fields are
    ignored (the task is built with rank-1 adapters on the trained layers, then unloaded).
    The same ``rng`` gives the same data splits as a LoRA task built from it.

    Raises:
        ValueError: a causal backbone, or ``train`` without ``lr``/``local_epochs``.
    """
    check(
        model.backbone not in CAUSAL_BACKBONES,
        f"model.backbone: full fine-tuning supports BERT-style backbones, not {model.backbone!r}",
    )
    check_train(train)
    adapted = 1 if full.layers is None else full.layers
    built = dataclasses.replace(model, mode="lora", lora_rank=1, adapted_layers=adapted)
    task = FederatedTask(data, built, train, rng=rng, plain=full.plain)
    make_full_finetune(task, full)
    return task


def make_full_finetune(task: FederatedTask, full: FullFineTuneConfig) -> None:
    """Turn a fresh LoRA-mode task (BERT-style) into full fine-tuning, in place.

    Removes the adapters, truncates the encoder to ``full.keep_layers``, makes the named
    weights and the head trainable, and rebuilds the task's layout, initial vector, feature
    caches (the frozen prefix changed) and evaluators.

    Raises:
        ValueError: the task is not in LoRA mode, has a causal backbone, runs the cached
            prefix although the embeddings should train (build it with ``plain=True``), or
            has fewer layers than ``full`` names.
    """
    cfg = task.model_config
    check(
        cfg.mode == "lora",
        f"model.mode: full fine-tuning starts from a LoRA-mode task, got {cfg.mode!r}",
    )
    check(
        cfg.backbone not in CAUSAL_BACKBONES,
        f"model.backbone: full fine-tuning supports BERT-style backbones, not {cfg.backbone!r}",
    )
    check_train(task.train_config)
    kind = task.features["train"].kind
    check(
        not full.plain or kind == "tokens",
        "full.layers: training the embeddings needs the whole network at every step; "
        "build the task with plain=True",
    )
    model = task.model
    total = model.n_layers
    keep = total if full.keep_layers is None else full.keep_layers
    check(
        keep <= total,
        f"full.keep_layers: the backbone has {total} layers, cannot keep {keep}",
    )
    trained = keep if full.layers is None else full.layers
    encoder: Any = model.encoder
    if hasattr(encoder, "get_base_model"):  # a peft wrapper: drop the (zero-start) adapters
        model.encoder = encoder.unload()
    bert = model.bert
    bert.encoder.layer = nn.ModuleList(list(bert.encoder.layer)[:keep])
    bert.config.num_hidden_layers = keep
    model.first_trainable_layer = keep - trained
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    trainable: list[nn.Module] = list(bert.encoder.layer)[keep - trained :] + [model.head]
    if full.plain:
        trainable.append(bert.embeddings)
    for module in trainable:
        for parameter in module.parameters():
            parameter.requires_grad_(True)
    model.eval()
    task.layout = layout_of(model)
    task.initial_vector = get_vector(model)
    for name, store in task.features.items():  # the prefix below the trained layers changed
        task.features[name] = FeatureStore(model, store.tokens, kind, batch_size=store.batch_size)
    task._evaluators.clear()  # built for the LoRA layout (private to FederatedTask)
