"""Local training under a compute bound, coalition utility, and a short FedAvg run."""

from __future__ import annotations

import numpy as np
import pytest

from fl_core import (
    CoalitionUtility,
    FedAvgConfig,
    FederatedTask,
    LocalResult,
    ModelConfig,
    TrainConfig,
    run_fedavg,
)
from fl_core.config import DataConfig
from tests.fl_core.conftest import train_shard


def _train(
    task: FederatedTask, speed: float, seed: int = 0, state: dict | None = None
) -> LocalResult:
    return train_shard(
        task, np.arange(120), samples_per_second=speed, seed=seed, optimizer_state=state
    )


def test_compute_bound_limits_samples(tiny_task: FederatedTask) -> None:
    deadline = tiny_task.train_config.deadline_s
    slow = _train(tiny_task, speed=40 / deadline)
    fast = _train(tiny_task, speed=100 / deadline)
    assert slow.samples_processed == 40 and fast.samples_processed == 100
    assert slow.sample_budget == 40
    # a very fast client is capped by local_epochs x shard size
    assert _train(tiny_task, speed=1e6).samples_processed == 120


def test_client_below_minimum_is_a_straggler(tiny_task: FederatedTask) -> None:
    result = _train(
        tiny_task,
        speed=(tiny_task.train_config.min_samples - 1) / tiny_task.train_config.deadline_s,
    )
    assert result.straggler and result.delta is None and result.samples_processed == 0


def test_same_seed_same_update_and_state_carries_over(tiny_task: FederatedTask) -> None:
    a, b = _train(tiny_task, 2.0, seed=5), _train(tiny_task, 2.0, seed=5)
    assert a.delta is not None and b.delta is not None
    assert np.array_equal(a.delta, b.delta)
    assert np.abs(a.delta).max() > 0
    c = _train(tiny_task, 2.0, seed=5, state=a.optimizer_state)
    assert c.delta is not None and not np.array_equal(c.delta, a.delta)


def test_lora_adapters_and_head_step_at_their_own_rates(tiny_task: FederatedTask) -> None:
    # Prepare: the optimizer state of one round, and how many head parameters there are
    shard = np.arange(120)
    result = train_shard(
        tiny_task, shard, samples_per_second=2.0, seed=1, train=TrainConfig(head_lr=0.05)
    )
    assert result.optimizer_state is not None
    groups = result.optimizer_state["param_groups"]
    n_head = len(list(tiny_task.model.head.parameters()))
    # Assert: adapters at the LoRA rate, the head (last parameters) at the head rate
    assert [g["lr"] for g in groups] == [TrainConfig().resolved_lr("lora"), 0.05]
    assert len(groups[1]["params"]) == n_head and len(groups[0]["params"]) > 0
    # the head rate really drives the head: a tiny head rate barely moves the head
    layout = tiny_task.layout
    head = [b for b in layout.blocks if b.name.startswith("head.")]
    slow = train_shard(
        tiny_task, shard, samples_per_second=2.0, seed=1, train=TrainConfig(head_lr=1e-6)
    )
    assert result.delta is not None and slow.delta is not None

    def head_move(delta: np.ndarray) -> float:
        return float(sum(np.abs(delta[b.offset : b.offset + b.size]).sum() for b in head))

    assert head_move(slow.delta) < 1e-2 * head_move(result.delta)


def test_empty_coalition_is_the_round_start_model(tiny_task: FederatedTask) -> None:
    deltas = [_train(tiny_task, 2.0, seed=s).delta for s in range(3)]
    utility = CoalitionUtility(
        lambda v: tiny_task.evaluate(v, "val"), tiny_task.initial_vector, deltas, [1, 2, 3]
    )
    start = tiny_task.evaluate(tiny_task.initial_vector, "val")
    assert utility.metrics(frozenset()) == start
    assert utility(frozenset()) == start.accuracy
    grand = utility.metrics(frozenset({0, 1, 2}))
    assert grand.loss != start.loss
    utility(frozenset({0, 1, 2}))
    assert utility.evaluations == 2  # memoised
    with pytest.raises(ValueError, match="coalition"):
        utility(frozenset({5}))


def test_fedavg_run_tables_and_determinism() -> None:
    cfg = FedAvgConfig(
        data=DataConfig(val_size=100, max_length=48),
        model=ModelConfig(backbone="tiny", mode="head"),
        train=TrainConfig(lr=0.05),
        n_clients=3,
        rounds=2,
        samples_per_client=60,
        samples_per_second=1.0,
        partition="dirichlet",
        alpha=0.5,
    )
    a, b = run_fedavg(cfg), run_fedavg(cfg)
    assert list(a.rounds["round"]) == [0, 1, 2]
    assert len(a.clients) == 6
    assert (a.clients["bytes_up"] < a.clients["full_model_bytes"]).all()
    assert a.rounds.equals(b.rounds)
    assert a.clients.drop(columns=["compute_seconds"]).equals(
        b.clients.drop(columns=["compute_seconds"])
    )
