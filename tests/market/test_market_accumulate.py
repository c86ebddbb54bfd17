"""Multi-round accumulation."""

from __future__ import annotations

import numpy as np
import pytest

import market


def test_sum_and_decay() -> None:
    rounds = [np.array([1.0, 2.0]), np.array([3.0, np.nan]), np.array([0.5, 1.0])]
    np.testing.assert_allclose(market.accumulate(rounds), [4.5, 3.0])
    np.testing.assert_allclose(market.accumulate(rounds, decay=0.5), [0.25 + 1.5 + 0.5, 0.5 + 1.0])


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="decay"):
        market.accumulate([np.ones(2)], decay=0.0)
    with pytest.raises(ValueError, match="same shape"):
        market.accumulate([np.ones(2), np.ones(3)])
    with pytest.raises(ValueError, match="at least one"):
        market.accumulate([])


def test_ledger() -> None:
    ledger = market.ContributionLedger(3, decay=0.9)
    ledger.record(np.array([1.0, 1.0, 1.0]))
    ledger.record(np.array([2.0, 5.0, 1.0]), participants=np.array([True, False, True]))
    assert ledger.n_rounds == 2
    assert np.isnan(ledger.history()[1, 1])
    np.testing.assert_allclose(ledger.totals(), [0.9 + 2.0, 0.9, 1.9])
    np.testing.assert_allclose(ledger.participation(), [2, 1, 2])
    with pytest.raises(ValueError, match="shape"):
        ledger.record(np.ones(4))
