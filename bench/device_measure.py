"""The work :mod:`bench.device_check` times: a backbone built in memory, synthetic data, rounds.

Imported by :mod:`bench.device_check`; see its docstring for what runs and why no file is
read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fl_core.aggregation import apply_update, fedavg
from fl_core.backends import TrainJob, batches_heads, head_view, train_jobs
from fl_core.config import ModelConfig, TrainConfig
from fl_core.evaluators import make_evaluator
from fl_core.features import FeatureStore, Tokens
from fl_core.model import TINY_CONFIG, SentenceClassifier, classifier_from_encoder
from fl_core.utility import CoalitionUtility
from fl_core.vector import get_vector, layout_of

VOCAB = 30522  # all-MiniLM-L6-v2's WordPiece vocabulary (the tiny backbone uses it too)
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "tiny": dict(TINY_CONFIG),
    "minilm": {  # all-MiniLM-L6-v2's config.json
        "hidden_size": 384,
        "num_hidden_layers": 6,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
        "max_position_embeddings": 512,
    },
}
N_CLASSES = 2
SPEED = 1e6  # samples/s of every client: the epoch bound, never the deadline, applies


@dataclass(frozen=True)
class Sizes:
    """One configuration's work."""

    backbone: str
    mode: str
    clients: int
    shard: int
    val: int
    seq_len: int
    rounds: int
    coalitions: int

    @property
    def label(self) -> str:
        return f"{self.backbone} {self.mode} x{self.clients}"


@dataclass
class Measurement:
    """What one configuration measured on one device."""

    device: str
    sizes: Sizes
    caching_per_s: float
    first_round_s: float
    rounds: int
    rounds_per_s: float
    evaluations: int
    evaluations_per_s: float
    vector: np.ndarray = field(repr=False)
    losses: np.ndarray = field(repr=False)
    vector_diff: float = float("nan")
    loss_diff: float = float("nan")


def build_model(sizes: Sizes, seed: int) -> SentenceClassifier:
    """:func:`fl_core.model.build_classifier`'s model, from an in-memory config (CPU)."""
    from transformers import AutoModel, BertConfig
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # untyped in transformers
    cfg = ModelConfig(backbone="minilm", init="random", mode=sizes.mode, adapted_layers=1)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=VOCAB, **ARCHITECTURES[sizes.backbone])
    encoder: Any = AutoModel.from_config(  # type: ignore[no-untyped-call]  # untyped upstream
        config, attn_implementation="sdpa"
    )
    return classifier_from_encoder(encoder, cfg, N_CLASSES, seed)


def synthetic_tokens(rng: np.random.Generator, n: int, seq_len: int) -> Tokens:
    """Right-padded random token ids, lengths uniform in [seq_len / 4, seq_len]."""
    lengths = rng.integers(max(seq_len // 4, 2), seq_len + 1, size=n)
    mask = (np.arange(seq_len)[None, :] < lengths[:, None]).astype(np.int64)
    ids = rng.integers(1000, VOCAB, size=(n, seq_len)) * mask
    return Tokens(torch.from_numpy(ids), torch.from_numpy(mask))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    sizes: Sizes,
    device: torch.device,
    *,
    seed: int,
    slot_s: float | None,
    exact: tuple[int, int] | None = None,
) -> Measurement:
    """One warm-up round, then timed rounds and timed coalition evaluations on ``device``.

    The reference run stops after ``sizes.rounds`` rounds and ``sizes.coalitions``
    coalitions, or when ``slot_s`` (split 60/40 between the two) runs out, after at least one
    of each; ``exact`` (rounds, coalitions) makes another device do the very same work.
    """
    rng = np.random.default_rng(seed)
    data_rng, client_rng, coalition_rng = rng.spawn(3)
    model = build_model(sizes, seed).to(device)
    kind = "pooled" if sizes.mode == "head" else "hidden"
    n_train = sizes.clients * sizes.shard
    train_tokens = synthetic_tokens(data_rng, n_train, sizes.seq_len)
    val_tokens = synthetic_tokens(data_rng, sizes.val, sizes.seq_len)
    train_labels = data_rng.integers(0, N_CLASSES, size=n_train)
    val_labels = data_rng.integers(0, N_CLASSES, size=sizes.val)
    train_store = FeatureStore(model, train_tokens, kind)
    val_store = FeatureStore(model, val_tokens, kind)
    _sync(device)
    t0 = time.perf_counter()
    train_store.ensure(np.arange(n_train), persist=False)
    val_store.ensure(np.arange(sizes.val), persist=False)
    _sync(device)
    caching_per_s = (n_train + sizes.val) / (time.perf_counter() - t0)

    cfg = TrainConfig(device=device.type)
    shards = [np.arange(i * sizes.shard, (i + 1) * sizes.shard) for i in range(sizes.clients)]
    rngs = client_rng.spawn(sizes.clients)
    states: list[dict[str, Any] | None] = [None] * sizes.clients
    batched = batches_heads(model, sizes.mode, sizes.clients)
    view = head_view(model) if sizes.mode == "head" else None
    vector = get_vector(model)

    def one_round(start: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[float]]:
        jobs = [
            TrainJob(shard, train_labels[shard], SPEED, r, s)
            for shard, r, s in zip(shards, rngs, states, strict=True)
        ]
        results = train_jobs(
            model, train_store, sizes.mode, cfg, start, jobs, batched=batched, view=view
        )
        states[:] = [r.optimizer_state for r in results]
        deltas = [r.delta for r in results if r.delta is not None]
        weights = [float(r.n_examples) for r in results if r.delta is not None]
        return apply_update(start, fedavg(deltas, weights), cfg.server_lr), deltas, weights

    t0 = time.perf_counter()
    start = vector
    vector, deltas, weights = one_round(start)  # warm-up: lazy inits, CUDA kernels
    first_round_s = time.perf_counter() - t0
    max_rounds = sizes.rounds if exact is None else exact[0]
    rounds, t0 = 0, time.perf_counter()
    while rounds < max_rounds:
        start = vector
        vector, deltas, weights = one_round(start)
        rounds += 1
        if exact is None and slot_s is not None and time.perf_counter() - t0 > 0.6 * slot_s:
            break
    _sync(device)
    rounds_per_s = rounds / (time.perf_counter() - t0) if rounds else float("nan")

    evaluator = make_evaluator(
        model, layout_of(model), val_store, val_labels, memo_size=0, device=device
    )
    evaluator.evaluate(start)  # warm-up: the evaluator's frozen projections, CUDA kernels
    utility = CoalitionUtility(
        evaluator.evaluate, start, deltas, weights, evaluate_many=evaluator.evaluate_many
    )
    coalitions = _coalitions(coalition_rng, len(deltas), sizes.coalitions)
    max_evals = len(coalitions) if exact is None else exact[1]
    losses: list[float] = []
    t0 = time.perf_counter()
    for k in range(0, max_evals, 4):
        losses.extend(m.loss for m in utility.metrics_many(coalitions[k : min(k + 4, max_evals)]))
        if exact is None and slot_s is not None and time.perf_counter() - t0 > 0.4 * slot_s:
            break
    evals_per_s = len(losses) / (time.perf_counter() - t0)
    return Measurement(
        device=device.type,
        sizes=sizes,
        caching_per_s=caching_per_s,
        first_round_s=first_round_s,
        rounds=rounds,
        rounds_per_s=rounds_per_s,
        evaluations=len(losses),
        evaluations_per_s=evals_per_s,
        vector=vector,
        losses=np.asarray(losses, dtype=np.float64),
    )


def _coalitions(rng: np.random.Generator, n: int, k: int) -> list[frozenset[int]]:
    """``k`` distinct non-empty coalitions of ``n`` players (all of them when fewer)."""
    if 2**n - 1 <= k:
        masks = list(range(1, 2**n))
    else:
        masks = []
        seen: set[int] = set()
        while len(masks) < k:
            mask = int(rng.integers(1, 2 ** min(n, 62)))
            if mask not in seen:
                seen.add(mask)
                masks.append(mask)
    return [frozenset(i for i in range(n) if mask >> i & 1) for mask in masks]
