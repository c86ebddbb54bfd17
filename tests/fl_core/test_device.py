"""``train.device``, and the per-client torch seed (issue 16).

The first ``_delta`` call of a fresh task fills the frozen-prefix cache lazily from inside
the training step; it must equal a later call (the cache is computed in eval mode: before
that fix the first call's prefix carried the encoder's dropout noise, 0.23 off).

Mutation tried for the seeding test: a ``seed_torch`` that seeds nothing makes two runs of
the same client (with LoRA dropout) differ, and ``test_the_broken_seeding_is_caught`` asserts
exactly that.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig
from fl_core.device import resolve_device
from tests.fl_core.conftest import make_task, train_shard

NO_GPU = not torch.cuda.is_available()


def _task(device: str = "cpu", dropout: float = 0.3) -> FederatedTask:
    return make_task(lora_dropout=dropout, lr=0.05, device=device)


@pytest.fixture(scope="module")
def dropout_task() -> FederatedTask:
    return _task()


def _delta(task: FederatedTask, seed: int) -> np.ndarray:
    result = train_shard(task, np.arange(48), samples_per_second=1.0, seed=seed)
    assert result.delta is not None
    return result.delta


def test_auto_is_the_gpu_when_there_is_one_else_the_cpu() -> None:
    assert resolve_device("auto").type == ("cpu" if NO_GPU else "cuda")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(not NO_GPU, reason="the error is for machines without a GPU")
def test_cuda_without_a_gpu_is_one_line_before_anything_loads() -> None:
    with pytest.raises(ValueError) as error:
        resolve_device("cuda")
    message = str(error.value)
    assert message.startswith("train.device: 'cuda'") and "'cpu'" in message
    assert "\n" not in message
    with pytest.raises(ValueError, match=r"^train\.device:"):
        FederatedTask(
            DataConfig(), ModelConfig(), TrainConfig(device="cuda"), rng=np.random.default_rng(0)
        )


def test_the_client_seed_is_the_old_torch_manual_seed(
    dropout_task: FederatedTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: LoRA dropout draws from torch's generator; disturb the global state first
    torch.manual_seed(12345)
    new = _delta(dropout_task, seed=7)
    again = _delta(dropout_task, seed=7)
    other = _delta(dropout_task, seed=8)
    # Execute: the old seeding, torch.manual_seed (every generator)
    monkeypatch.setattr("fl_core.training.seed_torch", lambda s, d: torch.manual_seed(s))
    old = _delta(dropout_task, seed=7)
    # Assert: the same update bit for bit, reproducible, and the seed matters
    assert np.array_equal(new, old) and np.array_equal(new, again)
    assert not np.array_equal(new, other)


def test_the_broken_seeding_is_caught(
    dropout_task: FederatedTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fl_core.training.seed_torch", lambda s, d: None)
    torch.manual_seed(1)
    a = _delta(dropout_task, seed=7)
    torch.manual_seed(2)
    b = _delta(dropout_task, seed=7)
    assert not np.array_equal(a, b)  # without the seed, dropout masks follow global state


@pytest.mark.skipif(NO_GPU, reason="needs a CUDA GPU")
def test_cuda_equals_cpu_within_float_tolerance() -> None:  # pragma: no cover - GPU only
    cpu, gpu = _task("cpu", dropout=0.0), _task("cuda", dropout=0.0)
    assert np.array_equal(cpu.initial_vector, gpu.initial_vector)
    d_cpu, d_gpu = _delta(cpu, 3), _delta(gpu, 3)
    np.testing.assert_allclose(d_gpu, d_cpu, atol=1e-4)
    vector = cpu.initial_vector + d_cpu
    a = cpu.coalition_evaluator("val").evaluate(vector)
    b = gpu.coalition_evaluator("val").evaluate(vector)
    assert abs(a.loss - b.loss) <= 1e-4 and a.n == b.n


@pytest.mark.skipif(NO_GPU, reason="needs a CUDA GPU")
def test_batched_heads_on_cuda_equal_cpu() -> None:  # pragma: no cover - GPU only
    # head mode with enough clients to take the batched trainer, which runs on train.device
    from fl_core.task import BATCHED_HEAD_MIN

    cpu, gpu = make_task(mode="head", device="cpu"), make_task(mode="head", device="cuda")
    n = BATCHED_HEAD_MIN + 2
    shards = [np.arange(16 * i, 16 * (i + 1)) for i in range(n)]
    out = []
    for task in (cpu, gpu):
        results = task.train_clients(
            task.initial_vector,
            shards,
            [task.train_labels[s] for s in shards],
            samples_per_second=[100.0] * n,
            rngs=[np.random.default_rng(i) for i in range(n)],
            optimizer_states=[None] * n,
        )
        out.append(np.stack([r.delta for r in results]))
        assert all(r.optimizer_state["state"][0]["exp_avg"].device.type == "cpu" for r in results)
    np.testing.assert_allclose(out[1], out[0], atol=1e-4)
