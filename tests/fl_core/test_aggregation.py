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
