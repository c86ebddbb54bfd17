"""The ``model``, ``data`` and ``train`` sections: the ``fl_core`` configs, described.

The sections *are* the ``fl_core`` configs (subclasses that add only what the marketplace
needs), so every bound of a training field is checked by ``fl_core.config`` and nothing is
copied by hand between the two. What each inherited field means, and the bounds and choices
that ``fl_core`` checks it against (its own constants, where it has them), is described in
:data:`INHERITED`: the one description the explorer, ``fedmarket fields`` and the docs read
(``tests/agents/test_field_help.py`` probes ``fl_core`` at every bound given here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from agents.scenario.errors import ScenarioError, as_scenario_error
from agents.scenario.spec import FieldSpec, check_fields, setting, spec
from fl_core.aggregation import AGGREGATORS
from fl_core.config import (
    BACKBONES,
    BACKENDS,
    COMPRESSIONS,
    DATASETS,
    DEVICES,
    INITS,
    MAX_BATCH_SIZE,
    MAX_CAUSAL_LAYERS,
    MAX_DEADLINE_S,
    MAX_HEAD_HIDDEN,
    MAX_LENGTH,
    MAX_LOCAL_EPOCHS,
    MAX_LORA_RANK,
    MAX_VAL_SIZE,
    MIN_LENGTH,
    MIN_VAL_SIZE,
    MODES,
    OWNER_TASKS,
    TARGET_MODULES,
    DataConfig,
    ModelConfig,
    TrainConfig,
)

DATA_PARTITIONS = ("allocate", "natural")


def _aggregators() -> tuple[str, ...]:
    return tuple(AGGREGATORS)


class _Checked:
    """A section built on an ``fl_core`` config: its errors become :class:`ScenarioError`
    at ``SECTION.FIELD``, and the fields it adds are checked against their specs."""

    section: ClassVar[str]

    def __post_init__(self) -> None:
        try:
            super().__post_init__()  # type: ignore[misc]  # the fl_core config's checks
        except ValueError as error:
            raise as_scenario_error(self.section, error) from None
        check_fields(self, self.section)


@dataclass(frozen=True)
class ModelSection(_Checked, ModelConfig):
    """Which network and how it is fine-tuned: exactly ``fl_core.ModelConfig``."""

    section: ClassVar[str] = "model"


@dataclass(frozen=True)
class DataSection(_Checked, DataConfig):
    """``fl_core.DataConfig`` plus how the server scores coalitions."""

    section: ClassVar[str] = "data"
    utility_subset: int = setting(
        128,
        "Validation examples (stratified) on which coalitions are scored: fewer is faster but "
        "noisier.",
        within="[10, inf)",
        label="scoring examples",
    )
    replace: bool = setting(
        False,
        "Draw participants' shards with replacement (automatic when the pool is too small for "
        "every shard).",
        label="shards with replacement",
    )
    partition: str = setting(
        "allocate",
        "How owners get their data: allocate (each group's data_size and class_alpha) or "
        "natural (each owner holds whole natural owners of the task, e.g. drug_reviews' "
        "medical conditions; data_size and class_alpha are then ignored).",
        choices=DATA_PARTITIONS,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.partition == "natural" and not (
            self.dataset in OWNER_TASKS or (self.dataset == "file" and self.owner_column)
        ):
            raise ScenarioError(
                "data.partition",
                f"natural needs natural owners, which {self.dataset} has not; use "
                f"data.dataset in {OWNER_TASKS}, or a file with data.owner_column",
            )
        if self.partition == "natural" and self.replace:
            raise ScenarioError(
                "data.replace",
                "natural hands out every example once, whole owners each; set data.replace "
                "= false or use data.partition = 'allocate'",
            )


@dataclass(frozen=True)
class TrainSection(_Checked, TrainConfig):
    """``fl_core.TrainConfig`` plus the server's screening of updates."""

    section: ClassVar[str] = "train"
    max_update_norm: float = setting(
        10.0,
        "Updates with a larger L2 norm are rejected and paid nothing.",
        within="(0, inf)",
        label="max update norm",
    )


INHERITED: dict[str, FieldSpec] = {
    "model.backbone": FieldSpec(
        "minilm: all-MiniLM-L6-v2; smollm2: the SmolLM2-135M decoder (slower on a CPU: head "
        "mode recommended); tiny / tiny_causal: 2-layer random BERT / Llama (for tests).",
        choices=BACKBONES,
    ),
    "model.init": FieldSpec(
        "pretrained weights, or random (the same architecture with random weights: the "
        "foundation-model-initialisation claim of Zhuang et al., arXiv 2306.15546).",
        choices=INITS,
    ),
    "model.mode": FieldSpec(
        "head: frozen embeddings and a federated linear head (fast); lora: LoRA adapters "
        "inside the transformer (real fine-tuning, slower).",
        choices=MODES,
    ),
    "model.lora_rank": spec("LoRA rank.", within=f"[1, {MAX_LORA_RANK}]"),
    "model.lora_alpha": spec("LoRA scaling numerator (peft's lora_alpha).", within="[1, inf)"),
    "model.lora_dropout": spec("Dropout on the LoRA path.", within="[0, 1)"),
    "model.target_modules": FieldSpec(
        "The attention and dense layers that get adapters (a non-empty subset; on a causal "
        "backbone they map to q_proj, k_proj, v_proj, o_proj).",
        choices=TARGET_MODULES,
    ),
    "model.adapted_layers": spec(
        "How many of the top layers get adapters (at most 6 on MiniLM and tiny, 30 on the "
        "causal backbones; omitted: all); the layers below are frozen and cached.",
        within=f"[1, {MAX_CAUSAL_LAYERS}]",
    ),
    "model.head_hidden": spec(
        "Hidden width of the head MLP in head mode (0: a linear head).",
        within=f"[0, {MAX_HEAD_HIDDEN}]",
    ),
    "data.dataset": FieldSpec(
        "A built-in offline task (amazon_reviews, the default; bbc_news: 5 topics; "
        "drug_reviews: 3 sentiments, owners by condition; `fedmarket datasets` lists them) or "
        "file (your own CSV or JSONL at data.path).",
        choices=DATASETS,
    ),
    "data.path": FieldSpec("CSV or JSONL file with the training pool when data.dataset = 'file'."),
    "data.test_path": FieldSpec(
        "Optional CSV or JSONL test file; without it data.test_fraction of data.path is held out."
    ),
    "data.text_column": FieldSpec("Text column of the user's file."),
    "data.label_column": FieldSpec("Label column of the user's file."),
    "data.owner_column": FieldSpec(
        "Optional column of the user's file naming each example's natural owner "
        "(for data.partition = 'natural')."
    ),
    "data.positive_label": FieldSpec(
        "Label value mapped to class 1 (a binary task); omitted: integer labels as they are, "
        "or sorted string labels mapped to 0..k-1."
    ),
    "data.val_size": spec(
        "Validation examples held by the server (for model selection and scoring; empty: "
        "the task's default, 500 for amazon_reviews).",
        within=f"[{MIN_VAL_SIZE}, {MAX_VAL_SIZE}]",
        label="validation examples",
    ),
    "data.test_fraction": spec("Share of the pool kept as the test set.", within="(0, 1)"),
    "data.max_length": spec(
        "Tokens per example after truncation (omitted: 96 in LoRA mode, 128 in head mode).",
        within=f"[{MIN_LENGTH}, {MAX_LENGTH}]",
        unit="tokens",
    ),
    "train.lr": spec(
        "Local AdamW learning rate (empty: the mode's default).",
        within="(0, 1)",
        label="learning rate",
    ),
    "train.head_lr": spec(
        "Learning rate of the classifier head in LoRA mode (empty: the adapters' rate).",
        within="(0, 1)",
    ),
    "train.batch_size": spec("Local mini-batch size.", within=f"[1, {MAX_BATCH_SIZE}]"),
    "train.local_epochs": spec(
        "Local epochs per round (empty: the mode's default).", within=f"(0, {MAX_LOCAL_EPOCHS}]"
    ),
    "train.deadline_s": spec(
        "A participant slower than this (simulated seconds) is a straggler; it trains at most "
        "speed x deadline samples a round.",
        within=f"(0, {MAX_DEADLINE_S}]",
        label="deadline",
        unit="s",
    ),
    "train.min_samples": spec(
        "A client that cannot process this many samples in a round is a straggler.",
        within="[1, inf)",
    ),
    "train.prox_mu": spec(
        "FedProx proximal term (Li et al. 2020; 0: plain FedAvg local training).",
        within="[0, inf)",
        label="FedProx mu",
    ),
    "train.server_lr": spec(
        "Server step size applied to the aggregated update.", within="(0, inf)"
    ),
    "train.weight_decay": spec("AdamW weight decay.", within="[0, inf)"),
    "train.eval_batch_size": spec(
        "Examples per evaluation and feature-caching batch.", within="[1, inf)"
    ),
    "train.aggregator": FieldSpec(
        "How the server combines updates: fedavg (weighted mean), or a robust rule (median, "
        "trimmed mean, Krum...) that resists poisoners.",
        choices=_aggregators,
    ),
    "train.trim_fraction": spec(
        "Share trimmed at each end by the trimmed-mean aggregator.", within="[0, 0.5)"
    ),
    "train.device": FieldSpec(
        "auto (CUDA when available, else the CPU), cpu or cuda: where training, coalition "
        "evaluation and embedding caching run.",
        choices=DEVICES,
    ),
    "train.backend": FieldSpec(
        "Where local training runs: local (this process) or ray (Ray actors); both give the "
        "same results for the same seed.",
        choices=BACKENDS,
    ),
    "train.ray_address": FieldSpec(
        "The Ray cluster for backend = 'ray': omitted (a Ray runtime on this machine), 'auto', "
        "'host:port' or 'ray://host:port'."
    ),
    "train.compression": FieldSpec(
        "What a client sends: none (dense float32), int8 (8-bit codes, QSGD stochastic "
        "rounding) or topk (the largest topk_fraction of coordinates).",
        choices=COMPRESSIONS,
    ),
    "train.topk_fraction": spec("Share of coordinates topk keeps.", within="(0, 1]"),
    "train.error_feedback": FieldSpec(
        "Carry what compression dropped into the next round's update (Stich et al. 2018)."
    ),
}
"""What each field a section inherits from ``fl_core`` means, and what fl_core allows."""
