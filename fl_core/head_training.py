"""Local training of many head-mode clients at once: one batched step for all of them.

In head mode a client trains a linear head on frozen pooled embeddings; one step is a
microsecond matmul and torch's per-step overhead (autograd, optimizer) dominates. Clients
are independent, so a group of clients with the same step schedule (batch sizes) trains as
one ``(clients, classes, width)`` tensor: per-client cross-entropy means summed (the
gradient of a sum of independent losses is each client's own gradient), then AdamW
(Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019) written out with a
per-client step count, exactly torch's ``AdamW`` update. Each client's random stream is
drawn from exactly as :func:`fl_core.training.train_local` draws from it (the torch seed,
then the permutations), and optimizer states are read and written in ``AdamW.state_dict()``
form, so the two paths are interchangeable; results agree to float rounding (a batched
matmul sums in another order).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fl_core.config import TrainConfig
from fl_core.features import FeatureStore
from fl_core.training import LocalResult, sample_budget

BETAS = (0.9, 0.999)
EPS = 1e-8


def _schedule(positions: np.ndarray, batch_size: int) -> tuple[int, ...]:
    return tuple(len(positions[s : s + batch_size]) for s in range(0, len(positions), batch_size))


def train_heads(
    weight: torch.Tensor,
    bias: torch.Tensor,
    features: FeatureStore,
    global_vector: np.ndarray,
    shards: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    samples_per_second: Sequence[float],
    cfg: TrainConfig,
    rngs: Sequence[np.random.Generator],
    optimizer_states: Sequence[dict[str, Any] | None],
    device: torch.device | None = None,
) -> list[LocalResult]:
    """Train a linear head (``weight``: classes x width, ``bias``) for every client.

    The flat vector is ``weight`` then ``bias`` (the head's registration order). Returns one
    :class:`LocalResult` per client, in order, as ``train_local`` would. The steps run on
    ``device`` (default: the CPU); the random draws stay on the clients' numpy streams, and
    deltas and optimizer states come back on the CPU, so results match to float rounding.
    """
    device = device or torch.device("cpu")
    started = time.perf_counter()
    n_classes, width = weight.shape
    size = n_classes * width + n_classes
    vector = np.asarray(global_vector, dtype=np.float32)
    if vector.shape != (size,):
        raise ValueError(f"global_vector: expected shape ({size},), got {vector.shape}")
    lr = cfg.resolved_lr("head")
    results: list[LocalResult | None] = [None] * len(shards)
    groups: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}
    for i, (shard, rng) in enumerate(zip(shards, rngs, strict=True)):
        shard = np.asarray(shard, dtype=np.int64)
        if labels[i].shape != shard.shape:
            raise ValueError(f"labels: expected {shard.shape[0]} labels, got {labels[i].shape[0]}")
        budget = sample_budget(samples_per_second[i], cfg, len(shard), "head")
        if budget < cfg.min_samples or len(shard) == 0:
            results[i] = LocalResult(
                None, len(shard), 0, budget, True, 0.0, 0.0, float("nan"), optimizer_states[i]
            )
            continue
        rng.integers(2**62)  # the torch seed train_local draws (a linear head uses none)
        order, remaining = [], budget
        while remaining > 0:
            perm = rng.permutation(len(shard))[:remaining]
            order.append(perm)
            remaining -= len(perm)
        positions = np.concatenate(order)
        groups.setdefault(_schedule(positions, cfg.batch_size), []).append((i, positions))
    index = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s in shards]))
    pooled = features.batch(index).pooled
    assert pooled is not None
    pooled = pooled.to(device)
    groups_template = torch.optim.AdamW(
        [torch.nn.Parameter(weight.detach().clone()), torch.nn.Parameter(bias.detach().clone())],
        lr=lr,
        weight_decay=cfg.weight_decay,
    ).state_dict()["param_groups"]
    w0 = torch.from_numpy(vector[: n_classes * width].reshape(n_classes, width).copy()).to(device)
    b0 = torch.from_numpy(vector[n_classes * width :].copy()).to(device)
    for schedule, members in groups.items():
        ids = [i for i, _ in members]
        c = len(ids)
        rows = np.stack(
            [
                np.searchsorted(index, np.asarray(shards[i], dtype=np.int64)[pos])
                for i, pos in members
            ]
        )
        ys = np.stack([np.asarray(labels[i], dtype=np.int64)[pos] for i, pos in members])
        w = w0.expand(c, n_classes, width).clone().requires_grad_(True)
        b = b0.expand(c, n_classes).clone().requires_grad_(True)
        state = _load_states([optimizer_states[i] for i in ids], w, b)
        rows_on, ys_on = torch.from_numpy(rows).to(device), torch.from_numpy(ys).to(device)
        anchor = (w.detach().clone(), b.detach().clone()) if cfg.prox_mu > 0 else None
        losses = torch.zeros(c, len(schedule), dtype=torch.float64, device=device)
        start = 0
        for k, step_size in enumerate(schedule):
            cols = slice(start, start + step_size)
            start += step_size
            x = pooled[rows_on[:, cols]]  # (c, batch, width)
            y = ys_on[:, cols]
            logits = torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
            per_client = (
                torch.nn.functional.cross_entropy(
                    logits.reshape(-1, n_classes), y.reshape(-1), reduction="none"
                )
                .view(c, step_size)
                .mean(dim=1)
            )
            loss = per_client
            if anchor is not None:
                prox = ((w - anchor[0]) ** 2).sum(dim=(1, 2)) + ((b - anchor[1]) ** 2).sum(dim=1)
                loss = loss + 0.5 * cfg.prox_mu * prox
            gw, gb = torch.autograd.grad(loss.sum(), (w, b))
            losses[:, k] = loss.detach().double()
            with torch.no_grad():
                _adamw(w, gw, state["w"], state["step"], lr, cfg.weight_decay)
                _adamw(b, gb, state["b"], state["step"], lr, cfg.weight_decay, bump=True)
        elapsed_each = (time.perf_counter() - started) / max(len(shards), 1)
        flat = torch.cat([w.detach().reshape(c, -1), b.detach()], dim=1).cpu().numpy()
        deltas = flat.astype(np.float32) - vector
        mean_loss = losses.mean(dim=1).cpu().numpy()
        n_samples = sum(schedule)
        for j, (i, _) in enumerate(members):
            results[i] = LocalResult(
                delta=deltas[j].copy(),
                n_examples=len(shards[i]),
                samples_processed=n_samples,
                sample_budget=n_samples,
                straggler=False,
                compute_seconds=elapsed_each,
                simulated_seconds=n_samples / samples_per_second[i],
                train_loss=float(mean_loss[j]),
                optimizer_state=_state_of(state, j, groups_template),
            )
    return [r for r in results if r is not None]


def _load_states(
    states: list[dict[str, Any] | None], w: torch.Tensor, b: torch.Tensor
) -> dict[str, Any]:
    """Stack per-client ``AdamW.state_dict()``s (missing ones start at zero)."""
    c = len(states)
    out: dict[str, Any] = {
        "w": (torch.zeros_like(w.detach()), torch.zeros_like(w.detach())),
        "b": (torch.zeros_like(b.detach()), torch.zeros_like(b.detach())),
        "step": torch.zeros(c, dtype=torch.float64, device=w.device),
    }
    for j, st in enumerate(states):
        if st is None or not st.get("state"):
            continue
        sw, sb = st["state"][0], st["state"][1]
        out["w"][0][j] = sw["exp_avg"].to(w.device)
        out["w"][1][j] = sw["exp_avg_sq"].to(w.device)
        out["b"][0][j] = sb["exp_avg"].to(w.device)
        out["b"][1][j] = sb["exp_avg_sq"].to(w.device)
        out["step"][j] = float(sw["step"])
    return out


def _adamw(
    param: torch.Tensor,
    grad: torch.Tensor,
    moments: tuple[torch.Tensor, torch.Tensor],
    steps: torch.Tensor,
    lr: float,
    weight_decay: float,
    *,
    bump: bool = False,
) -> None:
    """torch's single-tensor AdamW step with a per-client step count (leading axis)."""
    exp_avg, exp_avg_sq = moments
    step = steps + 1
    shape = (-1,) + (1,) * (param.dim() - 1)
    param.mul_(1 - lr * weight_decay)
    exp_avg.lerp_(grad, 1 - BETAS[0])
    exp_avg_sq.mul_(BETAS[1]).addcmul_(grad, grad, value=1 - BETAS[1])
    bias_correction1 = (1 - BETAS[0] ** step).view(shape)
    bias_correction2 = (1 - BETAS[1] ** step).view(shape)
    step_size = (lr / bias_correction1).to(param.dtype)
    denom = (exp_avg_sq.sqrt() / bias_correction2.sqrt().to(param.dtype)).add_(EPS)
    param.addcdiv_(exp_avg * step_size, denom, value=-1.0)
    if bump:
        steps += 1


def _state_of(state: dict[str, Any], j: int, param_groups: list[Any]) -> dict[str, Any]:
    """Client ``j``'s optimizer state in ``AdamW.state_dict()`` form."""
    step = torch.tensor(float(state["step"][j]), dtype=torch.float32)
    return {
        "state": {
            0: {
                "step": step.clone(),
                "exp_avg": state["w"][0][j].cpu().clone(),
                "exp_avg_sq": state["w"][1][j].cpu().clone(),
            },
            1: {
                "step": step,
                "exp_avg": state["b"][0][j].cpu().clone(),
                "exp_avg_sq": state["b"][1][j].cpu().clone(),
            },
        },
        "param_groups": param_groups,
    }
