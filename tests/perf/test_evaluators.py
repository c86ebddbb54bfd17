"""The fast evaluators equal the one-at-a-time and the plain peft paths; the factory always
returns an evaluator (the plain one where the fast ones do not apply)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fl_core import CoalitionUtility, FederatedTask, stratified_subset
from fl_core.evaluation import Metrics, evaluate
from fl_core.evaluators import (
    EvaluatorInputs,
    MemoEvaluator,
    PlainEvaluator,
    SuffixEvaluator,
    UnsupportedModel,
    VectorEvaluator,
    make_evaluator,
)
from fl_core.features import FeatureStore
from fl_core.model import SentenceClassifier
from fl_core.training import train_local
from fl_core.vector import get_vector, layout_of
from tests.perf.conftest import perturbed


def _evaluator(task: FederatedTask, indices: np.ndarray | None, **options: Any) -> MemoEvaluator:
    return make_evaluator(
        task.model, task.layout, task.features["val"], task.splits.val.labels, indices, **options
    )


@pytest.mark.parametrize("subset", [None, 37])
def test_lora_batched_equals_one_at_a_time_and_plain_peft(
    lora_task: FederatedTask, subset: int | None
) -> None:
    # Prepare: 5 vectors, a stacked evaluator (K = 5, small token batches) and a K = 1 one
    labels = lora_task.splits.val.labels
    idx = None if subset is None else stratified_subset(labels, subset, np.random.default_rng(3))
    vectors = perturbed(lora_task, 5, 0.05, seed=1)
    stacked = _evaluator(lora_task, idx, max_coalitions=5, batch_tokens=200)
    single = _evaluator(lora_task, idx, max_coalitions=1)
    plain = FeatureStore(lora_task.model, lora_task.features["val"].tokens, "tokens")
    # Execute
    batched = stacked.evaluate_many(vectors)
    one = [single.evaluate(v) for v in vectors]
    reference = [evaluate(lora_task.model, plain, labels, v, idx) for v in vectors]
    # Assert: exact up to float summation order (1e-5 in loss), same accuracy
    for b, o, r in zip(batched, one, reference, strict=True):
        assert abs(b.loss - o.loss) <= 1e-5 and abs(b.loss - r.loss) <= 1e-5
        assert b.accuracy == o.accuracy == r.accuracy
        assert b.n == r.n
    assert len({round(m.loss, 6) for m in batched}) == 5  # the vectors really differ


def test_lora_evaluator_equals_cached_path_without_projection_cache(
    lora_task: FederatedTask,
) -> None:
    vectors = perturbed(lora_task, 3, 0.05, seed=2)
    no_cache = _evaluator(lora_task, None, projection_cache_bytes=0, max_coalitions=3)
    cached = _evaluator(lora_task, None)
    for a, b in zip(no_cache.evaluate_many(vectors), cached.evaluate_many(vectors), strict=True):
        assert abs(a.loss - b.loss) <= 1e-5 and a.accuracy == b.accuracy


@pytest.mark.parametrize("task_name", ["head_task", "mlp_head_task"])
def test_head_batched_equals_one_at_a_time(task_name: str, request: pytest.FixtureRequest) -> None:
    task: FederatedTask = request.getfixturevalue(task_name)
    labels = task.splits.val.labels
    vectors = perturbed(task, 40, 0.5, seed=4)
    evaluator = _evaluator(task, None)
    batched = evaluator.evaluate_many(vectors)
    for v, b in zip(vectors, batched, strict=True):
        r = evaluate(task.model, task.features["val"], labels, v)
        assert abs(b.loss - r.loss) <= 1e-6
        assert b.accuracy == r.accuracy


def test_evaluator_never_modifies_the_model(lora_task: FederatedTask) -> None:
    before = get_vector(lora_task.model)
    _evaluator(lora_task, None).evaluate_many(perturbed(lora_task, 2, 0.1, seed=5))
    assert np.array_equal(get_vector(lora_task.model), before)


def test_memo_reuses_results_across_calls(head_task: FederatedTask) -> None:
    evaluator = _evaluator(head_task, None)
    vectors = perturbed(head_task, 3, 0.2, seed=6)
    first = evaluator.evaluate_many([vectors[0], vectors[1], vectors[0]])
    assert evaluator.evaluated == 2 and first[0] == first[2]
    again = evaluator.evaluate(vectors[1].copy())  # same bytes, another array
    assert again == first[1] and evaluator.evaluated == 2 and evaluator.memo_hits == 1
    evaluator.evaluate(vectors[2])
    assert evaluator.evaluated == 3


def test_memo_is_bounded(head_task: FederatedTask) -> None:
    evaluator = _evaluator(head_task, None, memo_size=2)
    vectors = perturbed(head_task, 3, 0.2, seed=7)
    evaluator.evaluate_many(vectors)
    evaluator.evaluate(vectors[0])  # the oldest was dropped: evaluated again
    assert evaluator.evaluated == 4


def test_task_keeps_one_evaluator_per_index_set(lora_task: FederatedTask) -> None:
    idx = np.arange(10)
    a = lora_task.coalition_evaluator("val", idx)
    assert isinstance(a, VectorEvaluator) and a.kind == "suffix"
    assert a is lora_task.coalition_evaluator("val", idx.copy())
    assert a is not lora_task.coalition_evaluator("val", np.arange(11))
    with pytest.raises(ValueError, match="split"):
        lora_task.coalition_evaluator("nope")


def test_plain_features_fall_back_to_the_plain_evaluator(lora_task: FederatedTask) -> None:
    # Prepare: token features (no cached prefix): the suffix evaluator refuses them
    labels = lora_task.splits.val.labels
    plain = FeatureStore(lora_task.model, lora_task.features["val"].tokens, "tokens")
    with pytest.raises(UnsupportedModel, match="hidden"):
        SuffixEvaluator(EvaluatorInputs(lora_task.model, lora_task.layout, plain, labels))
    # Execute: the factory still returns an evaluator, the plain one
    evaluator = make_evaluator(lora_task.model, lora_task.layout, plain, labels, np.arange(30))
    vectors = perturbed(lora_task, 2, 0.05, seed=11)
    got = evaluator.evaluate_many(vectors)
    # Assert: the same numbers as the model's forward, and a reason why it fell back
    assert evaluator.kind == "plain" and isinstance(evaluator.inner, PlainEvaluator)
    assert "hidden" in evaluator.inner.reason
    for v, m in zip(vectors, got, strict=True):
        assert m == evaluate(lora_task.model, plain, labels, v, np.arange(30))


def test_an_unsupported_head_falls_back_to_the_plain_evaluator(head_task: FederatedTask) -> None:
    # Prepare: a head with a part the fast path does not implement (tanh)
    width = int(head_task.model.bert.config.hidden_size)
    head = nn.Sequential(nn.Linear(width, 4), nn.Tanh(), nn.Linear(4, 2))
    model = SentenceClassifier(head_task.model.encoder, head, head_task.model.first_trainable_layer)
    layout = layout_of(model)
    features = head_task.features["val"]
    labels = head_task.splits.val.labels
    # Execute
    evaluator = make_evaluator(model, layout, features, labels)
    vector = np.random.default_rng(0).normal(0, 0.5, layout.size).astype(np.float32)
    # Assert: plain, with the reason, and the model's own forward's result
    assert evaluator.kind == "plain" and "Tanh" in evaluator.inner.reason  # type: ignore[attr-defined]
    assert evaluator.evaluate(vector) == evaluate(model, features, labels, vector)


def test_bad_vector_shape_is_rejected(head_task: FederatedTask) -> None:
    with pytest.raises(ValueError, match="vector"):
        _evaluator(head_task, None).evaluate(np.zeros(3, dtype=np.float32))


def test_coalition_utility_prefetch_batches_and_memoises(head_task: FederatedTask) -> None:
    # Prepare: count how often each path is called
    evaluator = _evaluator(head_task, None)
    assert evaluator.kind == "head"
    calls = {"one": 0, "many": 0}

    def one(v: np.ndarray) -> Metrics:
        calls["one"] += 1
        return evaluator.evaluate(v)

    def many(vs: Sequence[np.ndarray]) -> list[Metrics]:
        calls["many"] += 1
        return evaluator.evaluate_many(vs)

    deltas = list(perturbed(head_task, 4, 0.1, seed=8) - head_task.initial_vector)
    utility = CoalitionUtility(
        one, head_task.initial_vector, deltas, [1, 2, 3, 4], evaluate_many=many
    )
    coalitions = [frozenset(), frozenset({0, 1, 2, 3}), frozenset({2})]
    # Execute
    utility.prefetch(coalitions)
    values = [utility(c) for c in coalitions]
    # Assert: one batched call, no single calls, and the same numbers as the plain evaluate
    assert calls == {"one": 0, "many": 1} and utility.evaluations == 3
    for c, value in zip(coalitions, values, strict=True):
        reference = head_task.evaluate(utility.coalition_vector(c), "val")
        assert abs(value - reference.accuracy) <= 1e-12
    assert utility.values_many([frozenset({2}), frozenset({1})]) == [
        values[2],
        utility(frozenset({1})),
    ]
    assert calls["many"] == 2 and calls["one"] == 0


@settings(max_examples=15, deadline=None)
@given(n=st.integers(33, 80), seed=st.integers(0, 2**16))
def test_stacked_fedavg_of_large_coalitions_matches_fedavg(n: int, seed: int) -> None:
    from fl_core import fedavg

    rng = np.random.default_rng(seed)
    deltas = list(rng.normal(size=(n, 50)).astype(np.float32))
    weights = rng.integers(1, 100, size=n).astype(float)
    utility = CoalitionUtility(
        lambda v: Metrics(0.0, 0.0, 1), np.zeros(50, np.float32), deltas, list(weights)
    )
    members = sorted(rng.choice(n, size=n - 1, replace=False).tolist())
    got = utility.coalition_vector(frozenset(members))
    want = fedavg([deltas[i] for i in members], [weights[i] for i in members])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_head_mode_training_is_the_same_as_on_the_full_model(head_task: FederatedTask) -> None:
    shard = np.arange(40)
    labels = head_task.train_labels[shard]
    fast = head_task.train_client(
        head_task.initial_vector,
        shard,
        labels,
        samples_per_second=1.0,
        rng=np.random.default_rng(9),
    )
    full = train_local(
        head_task.model,
        head_task.features["train"],
        head_task.initial_vector,
        shard,
        labels,
        samples_per_second=1.0,
        cfg=head_task.train_config,
        rng=np.random.default_rng(9),
    )
    assert fast.delta is not None and full.delta is not None
    assert np.array_equal(fast.delta, full.delta) and np.abs(fast.delta).max() > 0
    assert fast.samples_processed == full.samples_processed


@pytest.mark.parametrize("field", ["batch_tokens", "max_coalitions", "memo_size", "workers"])
def test_bad_options_name_the_field(head_task: FederatedTask, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        _evaluator(head_task, None, **{field: -1})


@pytest.mark.parametrize("task_name", ["head_task", "mlp_head_task", "lora_task"])
def test_a_vectors_result_does_not_depend_on_its_company(
    task_name: str, request: pytest.FixtureRequest
) -> None:
    # Prepare: the evaluator the simulator uses (default stacking), no memo
    task: FederatedTask = request.getfixturevalue(task_name)
    vectors = perturbed(task, 9, 0.3, seed=8)
    evaluator = _evaluator(task, None, memo_size=0)
    # Execute: each vector alone, then all in one call, then in another order
    alone = [evaluator.evaluate(v) for v in vectors]
    together = evaluator.evaluate_many(vectors)
    reversed_ = evaluator.evaluate_many(vectors[::-1])[::-1]
    # Assert: bit for bit (a memoised utility must equal a recomputed one, e.g. on resume)
    assert [m.loss for m in alone] == [m.loss for m in together] == [m.loss for m in reversed_]
    assert [m.accuracy for m in alone] == [m.accuracy for m in together]


def test_a_hit_evicted_within_the_same_call_is_still_returned(head_task: FederatedTask) -> None:
    # a memo of one: the hit on vectors[0] is evicted by the two new results of the same call
    evaluator = _evaluator(head_task, None, memo_size=1)
    vectors = perturbed(head_task, 3, 0.2, seed=12)
    first = evaluator.evaluate(vectors[0])
    again = evaluator.evaluate_many(vectors)
    assert again[0] == first and evaluator.memo_hits == 1 and evaluator.evaluated == 3
