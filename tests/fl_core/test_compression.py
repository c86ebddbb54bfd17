"""Update compression: round trips, byte counts, error feedback, and runs in each mode.

Each property is checked against a deliberately broken variant that must FAIL it:
``_floor_int8`` (truncation instead of rounding) breaks the scale/2 bound, ``_first_k``
(the first k coordinates, not the largest) breaks top-k selection, ``_dense_topk_bytes``
(the dense size) breaks the byte formula, and dropping the residual breaks error feedback.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_core import TrainConfig
from fl_core.compression import (
    INT8_CHUNK,
    RESIDUAL_KEY,
    CompressedUpdate,
    compress,
    compress_result,
    decompress,
    quantize_int8,
    secure_update_bytes,
    sparsify_topk,
    strip_residual,
    topk_count,
    update_bytes,
)
from fl_core.task import BATCHED_HEAD_MIN, FederatedTask
from fl_core.training import LocalResult
from privacy.quantization import sum_bits
from tests.fl_core.conftest import make_task, short_fedavg

vectors = st.integers(1, 3 * INT8_CHUNK + 7).flatmap(
    lambda n: st.builds(
        lambda seed, scale: (
            np.random.default_rng(seed).standard_normal(n).astype(np.float32) * np.float32(scale)
        ),
        st.integers(0, 2**32 - 1),
        st.sampled_from([1e-6, 1e-2, 1.0, 1e3]),
    )
)


def _chunk_scales(update: CompressedUpdate) -> np.ndarray:
    assert update.scales is not None
    return np.repeat(update.scales, INT8_CHUNK)[: update.length]


def _int8_within_half_scale(x: np.ndarray, update: CompressedUpdate) -> bool:
    err = np.abs(decompress(update) - x)
    return bool(np.all(err <= _chunk_scales(update) * 0.5 * (1 + 1e-5) + 1e-30))


def _floor_int8(x: np.ndarray) -> CompressedUpdate:
    """Broken variant: truncates toward -inf instead of rounding to the nearest code."""
    good = quantize_int8(x)
    scales = _chunk_scales(good)
    codes = np.floor(x / np.where(scales > 0, scales, 1)).astype(np.int8)
    return CompressedUpdate("int8", x.size, codes, scales=good.scales)


def _is_topk(x: np.ndarray, update: CompressedUpdate, k: int) -> bool:
    assert update.indices is not None
    kept = update.indices.astype(np.int64)
    if len(kept) != k or len(set(kept.tolist())) != k:
        return False
    dropped = np.setdiff1d(np.arange(x.size), kept)
    smallest_kept = np.abs(x[kept]).min()
    return bool(
        np.array_equal(update.values, x[kept])
        and (dropped.size == 0 or np.abs(x[dropped]).max() <= smallest_kept)
    )


def _first_k(x: np.ndarray, fraction: float) -> CompressedUpdate:
    """Broken variant: keeps the first k coordinates, whatever their size."""
    k = topk_count(x.size, fraction)
    idx = np.arange(k, dtype=np.uint32)
    return CompressedUpdate("topk", x.size, x[:k].copy(), indices=idx)


# ----- int8 -----
@settings(deadline=None, max_examples=40)
@given(x=vectors)
def test_int8_nearest_error_within_half_a_scale(x: np.ndarray) -> None:
    update = quantize_int8(x)
    assert update.values.dtype == np.int8
    assert np.abs(update.values.astype(int)).max() <= 127
    assert _int8_within_half_scale(x, update)


def test_int8_truncation_mutation_breaks_the_half_scale_bound() -> None:
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    assert _int8_within_half_scale(x, quantize_int8(x))
    assert not _int8_within_half_scale(x, _floor_int8(x))


@settings(deadline=None, max_examples=20)
@given(x=vectors, seed=st.integers(0, 2**32 - 1))
def test_int8_stochastic_error_below_one_scale(x: np.ndarray, seed: int) -> None:
    update = quantize_int8(x, rng=np.random.default_rng(seed))
    assert np.all(np.abs(decompress(update) - x) <= _chunk_scales(update) * (1 + 1e-5) + 1e-30)


def test_int8_stochastic_rounding_is_unbiased_and_seeded() -> None:
    # Prepare: one chunk whose max pins the scale, and a coordinate a third of a step over 0
    x = np.zeros(INT8_CHUNK, np.float32)
    x[0], x[1] = 127.0, 1.0 / 3.0
    # Execute
    draws = [decompress(quantize_int8(x, rng=np.random.default_rng(s)))[1] for s in range(4000)]
    # Assert: E[decoded] = x (QSGD); nearest rounding would give 0 every time
    assert abs(np.mean(draws) - 1 / 3) < 0.03
    assert decompress(quantize_int8(x))[1] == 0.0
    a = quantize_int8(x, rng=np.random.default_rng(5)).values
    b = quantize_int8(x, rng=np.random.default_rng(5)).values
    assert np.array_equal(a, b)


def test_int8_zero_vector_round_trips() -> None:
    x = np.zeros(700, np.float32)
    assert np.array_equal(decompress(compress(x, "int8")), x)


# ----- top-k -----
@settings(deadline=None, max_examples=40)
@given(x=vectors, fraction=st.sampled_from([1e-3, 0.01, 0.1, 0.5, 1.0]))
def test_topk_keeps_exactly_the_k_largest(x: np.ndarray, fraction: float) -> None:
    k = topk_count(x.size, fraction)
    update = sparsify_topk(x, fraction=fraction)
    assert _is_topk(x, update, k)
    dense = decompress(update)
    assert np.count_nonzero(dense[update.indices.astype(np.int64)] == x[update.indices]) == k


def test_topk_first_k_mutation_fails() -> None:
    x = np.random.default_rng(2).standard_normal(500).astype(np.float32)
    assert _is_topk(x, sparsify_topk(x, fraction=0.1), 50)
    assert not _is_topk(x, _first_k(x, 0.1), 50)


def test_topk_count_bounds() -> None:
    assert topk_count(10, 1e-9) == 1
    assert topk_count(10, 1.0) == 10
    assert topk_count(25_346, 0.1) == 2535


# ----- bytes -----
@pytest.mark.parametrize("method", ["none", "int8", "topk"])
@pytest.mark.parametrize("n", [1, 511, 512, 513, 25_346])
def test_bytes_formula_matches_the_payload(method: str, n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    update = compress(x, method, topk_fraction=0.1)
    assert update.nbytes == update_bytes(n, method, topk_fraction=0.1)


def test_bytes_formulas_by_hand() -> None:
    assert update_bytes(25_346, "none") == 101_384
    assert update_bytes(25_346, "int8") == 25_346 + 4 * 50  # 50 chunks of 512
    assert update_bytes(25_346, "topk", topk_fraction=0.1) == 8 * 2535


def test_dense_bytes_mutation_is_caught() -> None:
    def _dense_topk_bytes(n: int) -> int:
        return 4 * n  # broken: counts the dense vector for a sparse update

    update = compress(np.ones(1000, np.float32), "topk", topk_fraction=0.1)
    assert update.nbytes != _dense_topk_bytes(1000)
    assert update.nbytes == update_bytes(1000, "topk", topk_fraction=0.1)


def test_secure_bytes_dense_and_topk_refused() -> None:
    assert secure_update_bytes(1000, "none", n_clients=8) == 4000
    assert secure_update_bytes(1000, "int8", n_clients=8) == math.ceil(1000 * 11 / 8)
    assert sum_bits(n_summands=8) == math.ceil(math.log2(8 * 254 + 1))
    with pytest.raises(ValueError, match="train.compression"):
        secure_update_bytes(1000, "topk", n_clients=8)


def test_sum_bits_holds_the_largest_sum_and_no_less() -> None:
    for n in (1, 2, 3, 8, 100, 1023):
        bits = sum_bits(n_summands=n)
        assert n * 254 < 2**bits  # the largest shifted sum fits
        assert n * 254 >= 2 ** (bits - 1)  # one bit fewer would not


# ----- error feedback -----
def _result(delta: np.ndarray | None) -> LocalResult:
    return LocalResult(delta, 10, 10, 10, delta is None, 0.0, 1.0, 0.5, {"state": {}})


def test_error_feedback_loses_nothing_over_rounds() -> None:
    # Prepare: the same update every round, top-1%: each round sends 1% of the coordinates
    rng = np.random.default_rng(0)
    x = rng.standard_normal(400).astype(np.float32)
    cfg = TrainConfig(compression="topk", topk_fraction=0.01)
    broken = TrainConfig(compression="topk", topk_fraction=0.01, error_feedback=False)
    sent, sent_broken, residual = np.zeros_like(x), np.zeros_like(x), None
    rounds = 400
    for _ in range(rounds):
        out = compress_result(_result(x), cfg, rng, residual)
        _, residual = strip_residual(out.optimizer_state)
        sent += out.delta
        sent_broken += compress_result(_result(x), broken, rng, None).delta
    # Assert: with memory, sent + residual == everything trained; without, most is lost
    assert residual is not None
    assert np.allclose(sent + residual, rounds * x, atol=1e-2)
    assert np.linalg.norm(sent / rounds - x) < 0.2 * np.linalg.norm(x)
    assert np.linalg.norm(sent_broken / rounds - x) > 0.8 * np.linalg.norm(x)


def test_straggler_keeps_its_residual_and_none_is_untouched() -> None:
    residual = np.ones(5, np.float32)
    out = compress_result(_result(None), TrainConfig(compression="int8"), None, residual)  # type: ignore[arg-type]  # a straggler draws nothing
    assert np.array_equal(out.optimizer_state[RESIDUAL_KEY], residual)
    plain = _result(np.ones(5, np.float32))
    assert compress_result(plain, TrainConfig(), np.random.default_rng(0)) is plain


def test_config_rejects_bad_compression_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"^train\.compression: unknown 'gzip'"):
        TrainConfig(compression="gzip")
    for bad in (0, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match=r"^train\.topk_fraction: must be in \(0, 1\]"):
            TrainConfig(topk_fraction=bad)
    with pytest.raises(ValueError, match=r"^train\.error_feedback"):
        TrainConfig(error_feedback="yes")  # type: ignore[arg-type]  # the bad input under test


# ----- real training in each mode (tiny model) -----
@pytest.fixture(scope="module")
def head_task() -> FederatedTask:
    return make_task(mode="head")


def test_fedavg_runs_in_each_compression_mode(head_task: FederatedTask) -> None:
    task = head_task
    finals = {}
    for method in ("none", "int8", "topk"):
        task.train_config = TrainConfig(lr=0.05, compression=method, topk_fraction=0.05)
        result = short_fedavg(
            task, samples_per_client=40, train=task.train_config, model=task.model_config
        )
        sent = result.clients["bytes_up"].to_numpy()
        expected = update_bytes(task.layout.size, method, topk_fraction=0.05)
        assert np.all(sent[~result.clients["straggler"].to_numpy()] == expected)
        finals[method] = result.final_vector - task.initial_vector
        assert np.all(np.isfinite(finals[method]))
        assert np.linalg.norm(finals[method]) > 0
    # top-k moved at most (clients x rounds x k) coordinates in total, and int8 stays close
    k = topk_count(task.layout.size, 0.05)
    assert np.count_nonzero(finals["topk"]) <= 3 * 2 * k
    assert np.count_nonzero(finals["none"]) > 3 * 2 * k
    a, b = finals["int8"], finals["none"]  # int8's draws shift the data order: compare angles
    assert float(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.9


@pytest.mark.parametrize("method", ["int8", "topk"])
def test_batched_head_clients_compress_like_one_by_one(
    head_task: FederatedTask, method: str
) -> None:
    # Prepare: enough clients for the batched head trainer, two rounds (residuals carried)
    task = head_task
    task.train_config = TrainConfig(lr=0.05, compression=method, topk_fraction=0.05)
    n = BATCHED_HEAD_MIN
    shards = [np.arange(4 * i, 4 * i + 16) for i in range(n)]
    labels = [task.train_labels[s] for s in shards]
    speeds = [100.0] * n

    def two_rounds(batched: bool) -> list[np.ndarray]:
        rngs = [np.random.default_rng(i) for i in range(n)]
        states: list[dict[str, Any] | None] = [None] * n
        deltas: list[np.ndarray] = []
        for _ in range(2):
            if batched:
                results = task.train_clients(
                    task.initial_vector,
                    shards,
                    labels,
                    samples_per_second=speeds,
                    rngs=rngs,
                    optimizer_states=states,
                )
            else:
                results = [
                    task.train_client(
                        task.initial_vector,
                        s,
                        y,
                        samples_per_second=100.0,
                        rng=r,
                        optimizer_state=st_,
                    )
                    for s, y, r, st_ in zip(shards, labels, rngs, states, strict=True)
                ]
            states = [r.optimizer_state for r in results]
            deltas += [r.delta for r in results]
        assert all(RESIDUAL_KEY in s for s in states if s is not None)
        return deltas

    # Execute / Assert: same compressed updates to float rounding
    for a, b in zip(two_rounds(True), two_rounds(False), strict=True):
        assert np.allclose(a, b, atol=1e-5)
        if method == "topk":
            assert np.count_nonzero(a) <= topk_count(a.size, 0.05)
