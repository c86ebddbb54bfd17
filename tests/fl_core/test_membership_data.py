"""Per-example losses and LiRA's shadow models (fl_core.membership_data) on the tiny model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from fl_core import FederatedTask
from fl_core.membership_data import example_losses, train_shadows
from tests.fl_core.conftest import make_task


@pytest.fixture(scope="module")
def task() -> FederatedTask:
    return make_task("head", lr=0.05, local_epochs=50)


def test_example_losses_are_the_evaluators_and_follow_the_given_labels(task: FederatedTask) -> None:
    idx = np.arange(5, 45)
    losses = example_losses(task, [task.initial_vector], idx, split="test")
    assert losses.shape == (1, 40)
    expected = task.evaluate(task.initial_vector, "test", idx).example_losses
    assert losses[0] == pytest.approx(expected, abs=1e-5)
    flipped = 1 - task.splits.test.labels[idx]
    other = example_losses(task, [task.initial_vector], idx, labels=flipped, split="test")[0]
    # two classes: the probabilities of the two labels sum to one
    assert np.exp(-losses[0]) + np.exp(-other) == pytest.approx(np.ones(40), abs=1e-5)


def test_shadows_train_on_balanced_halves_and_fit_their_in_examples(task: FederatedTask) -> None:
    pool = np.arange(100, 160)
    shadows = train_shadows(task, pool, shadows=4, rng=np.random.default_rng(0), clients=2)
    assert shadows.keep.shape == shadows.losses.shape == (4, 60)
    assert (shadows.keep.sum(axis=0) == 2).all()
    assert shadows.vectors.shape == (4, task.layout.size)
    fit_in = shadows.losses[shadows.keep].mean()
    fit_out = shadows.losses[~shadows.keep].mean()
    assert fit_in < 0.8 * fit_out  # each shadow fits its own half better
    assert np.isfinite(shadows.phi).all()
    again = train_shadows(task, pool, shadows=4, rng=np.random.default_rng(0), clients=2)
    assert np.array_equal(again.keep, shadows.keep)
    assert np.allclose(again.vectors, shadows.vectors, atol=1e-6)  # seeded
    untrained = train_shadows(task, pool, shadows=2, rng=np.random.default_rng(0), rounds=0)
    assert np.array_equal(untrained.vectors, np.stack([task.initial_vector] * 2))


def test_the_aggregate_hook_combines_every_shadow_round(task: FederatedTask) -> None:
    calls: list[int] = []

    def frozen(deltas: Sequence[np.ndarray], weights: Sequence[float], rng: object) -> np.ndarray:
        calls.append(len(deltas))
        return np.zeros_like(deltas[0])

    result = train_shadows(
        task,
        np.arange(20),
        shadows=2,
        rng=np.random.default_rng(1),
        rounds=2,
        clients=2,
        aggregate=frozen,
    )
    assert calls == [2, 2, 2, 2]  # 2 shadows x 2 rounds, 2 clients each
    assert np.array_equal(result.vectors[0], task.initial_vector)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"shadows": 1}, "shadows"),
        ({"shadows": 2, "rounds": -1}, "rounds"),
        ({"shadows": 2, "clients": 0}, "clients"),
        ({"shadows": 2, "samples_per_second": 0.0}, "samples_per_second"),
        ({"shadows": 2, "pool": np.array([1, 1])}, "pool"),
        ({"shadows": 2, "pool": np.array([10**7])}, "pool"),
        ({"shadows": 2, "labels": np.array([0])}, "labels"),
    ],
)
def test_bad_shadow_settings_are_one_line_errors(
    task: FederatedTask, kwargs: dict[str, Any], field: str
) -> None:
    pool = kwargs.pop("pool", np.arange(10))
    with pytest.raises(ValueError, match=field) as error:
        train_shadows(task, pool, rng=np.random.default_rng(), **kwargs)
    assert "\n" not in str(error.value)


def test_shadows_need_head_mode() -> None:
    lora = make_task("lora")
    with pytest.raises(ValueError, match="model.mode"):
        train_shadows(lora, np.arange(10), shadows=2, rng=np.random.default_rng())
