"""FedAvg against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from fl_core.aggregation import apply_update, fedavg


def test_fedavg_matches_hand_computation() -> None:
    deltas = [np.array([1.0, 0.0, 2.0]), np.array([3.0, 4.0, -2.0])]
    # weights 1 and 3: (1*[1,0,2] + 3*[3,4,-2]) / 4 = [2.5, 3, -1]
    assert np.allclose(fedavg(deltas, [1, 3]), [2.5, 3.0, -1.0])
    assert fedavg(deltas, [1, 3]).dtype == np.float32


def test_fedavg_of_one_update_is_that_update() -> None:
    delta = np.random.default_rng(0).normal(size=50).astype(np.float32)
    assert np.array_equal(fedavg([delta], [17]), delta)


def test_apply_update_uses_the_server_step() -> None:
    assert np.allclose(apply_update(np.ones(3), np.array([2.0, 0.0, -2.0]), 0.5), [2.0, 1.0, 0.0])


def test_fedavg_rejects_bad_weights() -> None:
    with pytest.raises(ValueError, match="weights"):
        fedavg([np.zeros(2)], [0])
    with pytest.raises(ValueError, match="deltas"):
        fedavg([], [])


def test_the_registry_has_one_signature_and_binds_options() -> None:
    from fl_core.aggregation import AGGREGATORS, coordinate_median, make_aggregator, trimmed_mean

    rng = np.random.default_rng(1)
    deltas = list(rng.normal(size=(7, 5)).astype(np.float32))
    weights = [1.0, 2, 3, 4, 5, 6, 7]
    assert set(AGGREGATORS) == {"fedavg", "median", "trimmed_mean"}
    for name, function in AGGREGATORS.items():  # every entry: (deltas, weights) -> delta
        assert function(deltas, weights).shape == (5,), name
    assert np.array_equal(make_aggregator("fedavg")(deltas, weights), fedavg(deltas, weights))
    assert np.array_equal(make_aggregator("median")(deltas, weights), coordinate_median(deltas))
    trimmed = make_aggregator("trimmed_mean", trim_fraction=0.3)(deltas, weights)
    assert np.array_equal(trimmed, trimmed_mean(deltas, 0.3))
    assert not np.array_equal(trimmed, trimmed_mean(deltas, 0.0))  # the option is bound


@pytest.mark.parametrize(
    ("name", "options", "field"),
    [
        ("krum", {}, "aggregator"),
        ("fedavg", {"trim_fraction": 0.1}, "aggregator"),
        ("trimmed_mean", {"fraction": 0.1}, "aggregator"),
        ("trimmed_mean", {"trim_fraction": 0.7}, "trim_fraction"),
    ],
)
def test_a_bad_aggregator_is_one_line(name: str, options: dict[str, float], field: str) -> None:
    from fl_core.aggregation import make_aggregator

    with pytest.raises(ValueError) as error:
        make_aggregator(name, **options)
    assert str(error.value).startswith(f"{field}:") and "\n" not in str(error.value)


def test_a_robust_aggregator_resists_an_outlier_fedavg_does_not() -> None:
    # the adversary: one update scaled by -1000 among four honest ones near +1
    from fl_core.aggregation import make_aggregator

    honest = [np.full(4, 1.0 + 0.01 * i, np.float32) for i in range(4)]
    deltas = [*honest, np.full(4, -1000.0, np.float32)]
    weights = [1.0] * 5
    assert make_aggregator("fedavg")(deltas, weights)[0] < -100
    assert abs(make_aggregator("median")(deltas, weights)[0] - 1.01) < 1e-6
    assert 1.0 <= make_aggregator("trimmed_mean", trim_fraction=0.2)(deltas, weights)[0] <= 1.03
