"""``FederatedTask.evaluate`` in LoRA mode runs the suffix evaluator (issue 16) and still
gives what the model's own forward gives, vector by vector.

Mutation tried: evaluating the task's initial vector instead of the one passed (a memo keyed
on the wrong thing would do that) makes the per-vector comparison below fail, as the vectors
give different losses (asserted).
"""

from __future__ import annotations

import numpy as np
import pytest

from fl_core import FederatedTask, stratified_subset
from fl_core.evaluation import evaluate as forward_evaluate
from tests.fl_core.conftest import make_task


@pytest.fixture(scope="module")
def two_layer_task() -> FederatedTask:
    return make_task(adapted_layers=None)


@pytest.mark.parametrize("task_name", ["tiny_task", "two_layer_task"])
@pytest.mark.parametrize("split", ["val", "test"])
def test_lora_evaluate_is_the_fast_path_and_equals_the_forward(
    task_name: str, split: str, request: pytest.FixtureRequest
) -> None:
    # Prepare: three different trainable vectors
    task: FederatedTask = request.getfixturevalue(task_name)
    rng = np.random.default_rng(5)
    vectors = [
        task.initial_vector + 0.3 * rng.normal(size=task.layout.size).astype(np.float32)
        for _ in range(3)
    ]
    labels = getattr(task.splits, split).labels
    subset = stratified_subset(labels, 30, np.random.default_rng(1))
    for indices in (None, subset):
        # Execute
        fast = [task.evaluate(v, split, indices) for v in vectors]
        reference = [
            forward_evaluate(task.model, task.features[split], labels, v, indices) for v in vectors
        ]
        # Assert: the suffix evaluator answered, equal to the forward to float order
        assert task.coalition_evaluator(split, indices).kind == "suffix"
        for f, r in zip(fast, reference, strict=True):
            assert abs(f.loss - r.loss) <= 1e-5 and f.accuracy == r.accuracy and f.n == r.n
        assert len({round(m.loss, 6) for m in fast}) == 3  # the vectors really differ


def test_head_mode_evaluate_keeps_the_forward() -> None:
    task = make_task(mode="head", adapted_layers=None)
    vector = task.initial_vector + 0.1
    got = task.evaluate(vector, "val")
    assert got == forward_evaluate(task.model, task.features["val"], task.splits.val.labels, vector)
    assert not task._evaluators  # no evaluator built: the head's forward is already cheap
