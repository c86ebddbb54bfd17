"""The batched head trainer equals the one-by-one path (random draws, AdamW, FedProx).

Mutation tried: dropping the per-client step count (one shared Adam step for all clients,
so a client joining later gets a wrong bias correction) makes the second-round comparison
fail; so does skipping the torch-seed draw (``rng.integers``) in ``train_heads``.
"""

from __future__ import annotations

import numpy as np
import pytest

from fl_core.task import BATCHED_HEAD_MIN, FederatedTask
from tests.fl_core.conftest import make_task


def _clients(task: FederatedTask, n: int, seed: int) -> tuple[list, list, list]:
    rng = np.random.default_rng(seed)
    pool = len(task.train_labels)
    sizes = rng.integers(10, 40, size=n)
    shards = [rng.choice(pool, size=int(s), replace=False) for s in sizes]
    labels = [task.train_labels[s] for s in shards]
    speeds = list(rng.choice([5.0, 50.0, 500.0], size=n))
    return shards, labels, speeds


@pytest.mark.parametrize("prox_mu", [0.0, 0.1])
def test_batched_heads_equal_one_by_one(prox_mu: float) -> None:
    task = make_task(mode="head", adapted_layers=None, prox_mu=prox_mu, deadline_s=1.0)
    n = BATCHED_HEAD_MIN + 8
    shards, labels, speeds = _clients(task, n, 1)
    vector = task.initial_vector.copy()
    states_a: list = [None] * n
    states_b: list = [None] * n
    streams_a = [np.random.default_rng(100 + i) for i in range(n)]
    streams_b = [np.random.default_rng(100 + i) for i in range(n)]
    for round_ in range(2):
        # the second round: only some clients train again (per-client Adam step counts differ)
        who = list(range(n)) if round_ == 0 else list(range(0, n, 2))
        who = who if len(who) >= BATCHED_HEAD_MIN else list(range(n))
        one = [
            task.train_client(
                vector,
                shards[i],
                labels[i],
                samples_per_second=speeds[i],
                rng=streams_a[i],
                optimizer_state=states_a[i],
            )
            for i in who
        ]
        batch = task.train_clients(
            vector,
            [shards[i] for i in who],
            [labels[i] for i in who],
            samples_per_second=[speeds[i] for i in who],
            rngs=[streams_b[i] for i in who],
            optimizer_states=[states_b[i] for i in who],
        )
        assert len(batch) == len(one)
        for i, a, b in zip(who, one, batch, strict=True):
            assert a.straggler == b.straggler
            assert a.samples_processed == b.samples_processed
            if a.delta is None:
                assert b.delta is None
                continue
            np.testing.assert_allclose(b.delta, a.delta, rtol=1e-4, atol=2e-6)
            assert b.train_loss == pytest.approx(a.train_loss, rel=1e-5)
            assert streams_a[i].random() == streams_b[i].random()  # same draws consumed
            states_a[i], states_b[i] = a.optimizer_state, b.optimizer_state
        vector = vector + np.mean([r.delta for r in one if r.delta is not None], axis=0)
        vector = vector.astype(np.float32)
    # the batched optimizer state loads into torch's AdamW (the one-by-one path)
    assert any(s is not None and s["state"] for s in states_b)
