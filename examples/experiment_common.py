"""What the survey experiments share: one FedAvg run with its traffic, lr tuning, figures.

* :class:`Arm`: a way of fine-tuning (LoRA, a head, or full fine-tuning via
  :mod:`fl_core.full_finetune`) with its learning-rate grid.
* :func:`run_arm`: FedAvg over the same shards and random streams as
  :func:`fl_core.rounds.run_fedavg` (same seed, same shards, same client draws), but it
  evaluates only what the experiment reads (validation every round or at the end, test at
  the end) and counts both directions of traffic: every client downloads the global
  trainable vector and uploads its update each round.
* :func:`tune_lr`: the learning rate of an arm picked on validation accuracy, on a tuning
  seed that no reported run uses.
* :func:`save_figure`, :func:`write_text`: PNG + SVG (fixed metadata) and text, written
  atomically, as :mod:`agents.study_figures` does.

Torch stays inside :mod:`fl_core`; this module only sequences its calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fl_core.full_finetune import FullFineTuneConfig
    from fl_core.task import FederatedTask

TUNING_SEED = 1000
"""The seed learning rates are tuned on (never one of the reported seeds)."""


@dataclass(frozen=True)
class Arm:
    """One way of fine-tuning.

    Attributes:
        name: the label in tables and figures.
        init: ``"pretrained"`` or ``"random"`` weights.
        mode: ``"lora"`` or ``"head"`` (ignored when ``full`` is given).
        lrs: the learning-rate grid it is tuned over.
        lora_rank, adapted_layers: LoRA's rank and the top layers it adapts.
        full: full fine-tuning of these weights (:mod:`fl_core.full_finetune`), or ``None``.
    """

    name: str
    init: str
    mode: str
    lrs: tuple[float, ...]
    lora_rank: int = 8
    adapted_layers: int | None = 1
    full: FullFineTuneConfig | None = None


@dataclass(frozen=True)
class Setup:
    """The federation every arm runs in."""

    dataset: str = "amazon_reviews"
    backbone: str = "minilm"
    n_clients: int = 4
    samples_per_client: int = 32
    rounds: int = 5
    partition: str = "iid"
    alpha: float = 0.5
    max_length: int = 32
    val_size: int = 100
    local_epochs: float = 1.0
    batch_size: int = 16
    threads: int = 2


@dataclass
class ArmRun:
    """One run of an arm: per-round validation accuracy and cumulative traffic, final test."""

    rounds: list[dict[str, Any]] = field(default_factory=list)
    test_accuracy: float = float("nan")
    val_accuracy: float = float("nan")
    trainable_params: int = 0
    majority_rate: float = float("nan")
    final_vector: np.ndarray | None = None


def build_task(setup: Setup, arm: Arm, lr: float, seed: int) -> FederatedTask:
    """The arm's task for ``seed``: the same data splits for every arm of a seed."""
    from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig

    data = DataConfig(dataset=setup.dataset, val_size=setup.val_size, max_length=setup.max_length)
    model = ModelConfig(
        backbone=setup.backbone,
        init=arm.init,
        mode=arm.mode,
        lora_rank=arm.lora_rank,
        adapted_layers=arm.adapted_layers,
    )
    train = TrainConfig(
        device="cpu", lr=lr, local_epochs=setup.local_epochs, batch_size=setup.batch_size
    )
    task_rng = np.random.default_rng(seed).spawn(4)[0]  # run_fedavg's task stream
    if arm.full is not None:
        from fl_core.full_finetune import full_finetune_task

        return full_finetune_task(data, model, train, arm.full, rng=task_rng)
    return FederatedTask(data, model, train, rng=task_rng)


def fedavg_config(setup: Setup, seed: int) -> Any:
    """The :class:`fl_core.rounds.FedAvgConfig` whose shards and streams :func:`run_arm` uses."""
    from fl_core.rounds import FedAvgConfig

    return FedAvgConfig(
        n_clients=setup.n_clients,
        rounds=setup.rounds,
        seed=seed,
        partition=setup.partition,
        alpha=setup.alpha,
        samples_per_client=setup.samples_per_client,
        samples_per_second=1e6,  # no compute bound: every client runs its local epochs
    )


def run_arm(
    setup: Setup,
    arm: Arm,
    lr: float,
    seed: int,
    *,
    every_round: bool = True,
    test: bool = True,
    test_indices: np.ndarray | None = None,
    task: FederatedTask | None = None,
) -> ArmRun:
    """FedAvg of ``arm`` at ``lr`` for ``seed`` (see the module docstring).

    Args:
        setup, arm, lr, seed: what runs.
        every_round: evaluate validation accuracy after every round (else only at the end).
        test: evaluate the final model on the test split (``test_indices`` of it, if given).
        task: a task built by :func:`build_task` for this arm, lr and seed (else built here).
    """
    import torch

    from fl_core.aggregation import apply_update, make_aggregator
    from fl_core.compression import sent_bytes
    from fl_core.rounds import make_shards

    torch.set_num_threads(setup.threads)
    cfg = fedavg_config(setup, seed)
    _, shard_rng, _, train_rng = np.random.default_rng(seed).spawn(4)
    task = task or build_task(setup, arm, lr, seed)
    labels = task.train_labels
    shards = make_shards(cfg, labels, shard_rng)
    # cache the frozen prefix only where it is read: the shards and validation (the test
    # split's rows are cached by its evaluator, only those ``test_indices`` names)
    task.features["train"].ensure(np.concatenate(shards))
    task.features["val"].ensure(np.arange(len(task.splits.val)))
    client_rngs = train_rng.spawn(cfg.n_clients)
    aggregate = make_aggregator(task.train_config.aggregator)
    states: list[Any] = [None] * cfg.n_clients
    vector = task.initial_vector.copy()
    scored = (
        task.splits.test.labels if test_indices is None else task.splits.test.labels[test_indices]
    )
    # the majority rate of the examples the test accuracy is measured on (a subset, maybe)
    run = ArmRun(
        trainable_params=task.layout.size,
        majority_rate=float(np.bincount(scored).max() / len(scored)),
    )
    up = down = 0

    def record(round_index: int) -> None:
        accuracy = float("nan")
        if every_round or round_index == cfg.rounds:
            accuracy = task.evaluate(vector, "val").accuracy
        run.rounds.append(
            {"round": round_index, "val_accuracy": accuracy, "bytes_up": up, "bytes_down": down}
        )

    record(0)
    for round_index in range(1, cfg.rounds + 1):
        deltas, weights = [], []
        for k in range(cfg.n_clients):
            down += task.update_bytes  # the global trainable vector
            result = task.train_client(
                vector,
                shards[k],
                labels[shards[k]],
                samples_per_second=1e6,
                rng=client_rngs[k],
                optimizer_state=states[k],
            )
            states[k] = result.optimizer_state
            if result.delta is not None:
                up += sent_bytes(task.layout.size, task.train_config)
                deltas.append(result.delta)
                weights.append(result.n_examples)
        if deltas:
            vector = apply_update(vector, aggregate(deltas, weights))
        record(round_index)
    run.val_accuracy = float(run.rounds[-1]["val_accuracy"])
    run.final_vector = vector
    if test:
        run.test_accuracy = task.evaluate(vector, "test", test_indices).accuracy
    return run


def tune_lr(
    setup: Setup, arm: Arm, *, seed: int = TUNING_SEED
) -> tuple[float, list[dict[str, Any]]]:
    """The lr of ``arm.lrs`` with the best final validation accuracy on ``seed`` (ties: the
    smaller lr), and one row per lr tried."""
    rows = []
    for lr in arm.lrs:
        run = run_arm(setup, arm, lr, seed, every_round=False, test=False)
        rows.append({"arm": arm.name, "lr": lr, "val_accuracy": run.val_accuracy})
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["lr"]))
    return float(best["lr"]), rows


def rounds_to_target(rounds: Sequence[dict[str, Any]], target: float) -> tuple[float, float]:
    """The first round whose validation accuracy reaches ``target`` and the bytes (upload +
    download, all clients) spent until then; ``(nan, nan)`` when no round does."""
    for row in rounds:
        if row["round"] > 0 and row["val_accuracy"] >= target:
            return float(row["round"]), float(row["bytes_up"] + row["bytes_down"])
    return float("nan"), float("nan")


def with_setup(setup: Setup, **changes: Any) -> Setup:
    """``setup`` with some fields changed."""
    return dataclasses.replace(setup, **changes)


def cpu_name() -> str:
    """``lscpu``'s model name and its AVX2/AVX-512 support, e.g. ``"AMD EPYC (AVX2)"``."""
    import re
    import subprocess

    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU"
    name = re.search(r"Model name:\s*(.+)", text)
    flags = re.search(r"Flags:\s*(.+)", text)
    have = set(flags.group(1).split()) if flags else set()
    simd = [tag for flag, tag in (("avx2", "AVX2"), ("avx512f", "AVX-512")) if flag in have]
    return f"{name.group(1).strip() if name else 'unknown CPU'} ({', '.join(simd) or 'no AVX2'})"


def save_figure(fig: Figure, path_stem: Path) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg`` atomically with fixed metadata."""
    import matplotlib

    from agents.results_io import atomic_write

    paths = []
    for fmt in ("png", "svg"):
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        path = path_stem.with_suffix(f".{fmt}")

        def write(tmp: Path, fmt: str = fmt, metadata: Any = metadata) -> None:
            with matplotlib.rc_context({"svg.hashsalt": "fedmarket", "svg.fonttype": "none"}):
                fig.savefig(tmp, format=fmt, dpi=150, metadata=metadata, bbox_inches="tight")

        atomic_write(path, write)
        paths.append(path)
    return paths


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    from agents.results_io import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_csv(path: Path, frame: Any) -> None:
    """Write a DataFrame as CSV atomically (floats rounded to 6 digits: stable diffs)."""
    from agents.results_io import atomic_write

    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))


def fmt_interval(mean: float, low: float, high: float, digits: int = 3) -> str:
    """``"0.712 (0.690 to 0.734)"``; ``"0.712"`` when the interval is undefined."""
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({low:.{digits}f} to {high:.{digits}f})"
