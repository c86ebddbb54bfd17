"""Local training of one client, bounded by its compute.

A client starts from the round's global trainable vector, keeps its own AdamW state across
rounds, and gets through at most ``samples_per_second * deadline_s`` samples this round
(and at most ``local_epochs`` passes over its shard). A client whose bound is below
``min_samples`` is a straggler: it trains nothing and sends nothing. FedProx (Li et al.,
"Federated Optimization in Heterogeneous Networks", MLSys 2020) adds
``prox_mu / 2 * ||w - w_global||^2`` to the local loss.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from fl_core.classifier import SentenceClassifier
from fl_core.config import TrainConfig
from fl_core.device import seed_torch
from fl_core.features import FeatureStore
from fl_core.vector import get_vector, set_vector, trainable_parameters


@dataclass(frozen=True)
class LocalResult:
    """What one client's round produced.

    Attributes:
        delta: trained vector minus global vector (float32), ``None`` for a straggler.
        n_examples: shard size (the FedAvg weight).
        samples_processed: samples actually trained on this round.
        sample_budget: ``floor(samples_per_second * deadline_s)``.
        straggler: True when the budget was below ``min_samples``.
        compute_seconds: wall-clock seconds the simulator spent training.
        simulated_seconds: ``samples_processed / samples_per_second``.
        train_loss: mean training loss over the steps (NaN for a straggler).
    """

    delta: np.ndarray | None
    n_examples: int
    samples_processed: int
    sample_budget: int
    straggler: bool
    compute_seconds: float
    simulated_seconds: float
    train_loss: float
    optimizer_state: dict[str, Any] | None


def sample_budget(
    samples_per_second: float, cfg: TrainConfig, shard_size: int, mode: str = "lora"
) -> int:
    """How many samples a client can process this round (``mode`` resolves default epochs)."""
    by_compute = int(np.floor(samples_per_second * cfg.deadline_s))
    by_epochs = int(np.ceil(cfg.resolved_local_epochs(mode) * shard_size))
    return max(0, min(by_compute, by_epochs))


def _clone_state(state: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for key, value in state["state"].items():
        out["state"][key] = {
            k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in value.items()
        }
    return out


def train_local(
    model: SentenceClassifier,
    features: FeatureStore,
    global_vector: np.ndarray,
    shard: np.ndarray,
    labels: np.ndarray,
    *,
    samples_per_second: float,
    cfg: TrainConfig,
    rng: np.random.Generator,
    optimizer_state: dict[str, Any] | None = None,
) -> LocalResult:
    """Train on ``shard`` (indices into ``features``) with ``labels`` (one per shard item).

    The learning rate and local epochs are ``cfg``'s, or the defaults of the mode the
    trainable parameters show (LoRA adapters or a head alone, see
    :data:`fl_core.config.DEFAULT_LR`); in LoRA mode the head has its own rate
    (:meth:`~fl_core.config.TrainConfig.resolved_head_lr`). Training runs
    where the model's weights are (``model.device``); the per-client torch seed goes to that
    device's generator only (the one dropout draws from).
    """
    shard = np.asarray(shard, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != shard.shape:
        raise ValueError(f"labels: expected {shard.shape[0]} labels, got {labels.shape[0]}")
    named = trainable_parameters(model)
    mode = "lora" if any("lora_" in name for name, _ in named) else "head"
    budget = sample_budget(samples_per_second, cfg, len(shard), mode)
    if budget < cfg.min_samples or len(shard) == 0:
        return LocalResult(
            None, len(shard), 0, budget, True, 0.0, 0.0, float("nan"), optimizer_state
        )
    started = time.perf_counter()
    device = model.device
    seed_torch(int(rng.integers(2**62)), device)
    set_vector(model, global_vector)
    params = [p for _, p in named]
    groups: list[dict[str, Any]] = [{"params": params, "lr": cfg.resolved_lr(mode)}]
    if mode == "lora":  # adapters at the LoRA rate, the fresh head at its own
        groups = [
            {"params": [p for n, p in named if "lora_" in n], "lr": cfg.resolved_lr(mode)},
            {"params": [p for n, p in named if "lora_" not in n], "lr": cfg.resolved_head_lr()},
        ]
    optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    anchor = [p.detach().clone() for p in params] if cfg.prox_mu > 0 else None
    loss_fn = nn.CrossEntropyLoss()
    order: list[np.ndarray] = []
    remaining = budget
    while remaining > 0:
        perm = rng.permutation(len(shard))[:remaining]
        order.append(perm)
        remaining -= len(perm)
    positions = np.concatenate(order)
    model.train()
    losses = []
    try:
        for start in range(0, len(positions), cfg.batch_size):
            pos = positions[start : start + cfg.batch_size]
            batch = features.batch(shard[pos])
            target = torch.from_numpy(labels[pos]).to(device)
            loss = loss_fn(batch.logits(model), target)
            if anchor is not None:
                prox = sum(((p - a) ** 2).sum() for p, a in zip(params, anchor, strict=True))
                loss = loss + 0.5 * cfg.prox_mu * prox
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    finally:
        model.eval()
    delta = get_vector(model) - np.asarray(global_vector, dtype=np.float32)
    elapsed = time.perf_counter() - started
    return LocalResult(
        delta=delta,
        n_examples=len(shard),
        samples_processed=len(positions),
        sample_budget=budget,
        straggler=False,
        compute_seconds=elapsed,
        simulated_seconds=len(positions) / samples_per_second,
        train_loss=float(np.mean(losses)),
        optimizer_state=_clone_state(optimizer.state_dict()),
    )
