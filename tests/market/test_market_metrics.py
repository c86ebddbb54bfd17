"""Fairness and incentive metrics, including degenerate inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import market


def test_correlations() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert market.pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert market.spearman(x, x**3) == pytest.approx(1.0)
    assert market.spearman(x, -np.exp(x)) == pytest.approx(-1.0)
    assert math.isnan(market.pearson(x, np.ones(4)))
    assert math.isnan(market.spearman(np.ones(4), x))
    assert math.isnan(market.pearson([1.0], [2.0]))
    with pytest.raises(ValueError, match="same shape"):
        market.pearson(x, x[:3])


def test_jain_and_gini() -> None:
    assert market.jain_index(np.ones(5)) == pytest.approx(1.0)
    assert market.jain_index(np.array([1.0, 0, 0, 0])) == pytest.approx(0.25)
    assert math.isnan(market.jain_index(np.zeros(3)))
    assert market.gini(np.ones(4)) == pytest.approx(0.0)
    assert market.gini(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(0.75)
    assert math.isnan(market.gini(np.zeros(2)))
    with pytest.raises(ValueError, match="non-negative"):
        market.gini(np.array([-1.0, 1.0]))


def test_ir_free_riders_budget() -> None:
    payments = np.array([0.5, 0.1, 0.0, 0.4])
    costs = np.array([0.2, 0.3, 0.1, 0.0])
    ir = market.ir_violations(payments, costs)
    assert ir.count == 2
    assert ir.total == pytest.approx(0.3)
    only_winners = market.ir_violations(payments, costs, incurred=payments > 0)
    assert only_winners.count == 1
    riders = np.array([False, True, True, False])
    assert market.free_rider_share(payments, riders, budget=2.0) == pytest.approx(0.05)
    assert market.budget_balance(payments, 2.0) == pytest.approx(0.5)
    assert math.isnan(market.budget_balance(payments, 0.0))


def test_ir_rate() -> None:
    payments, costs = np.array([0.5, 0.1, 0.0]), np.array([0.2, 0.3, 0.0])
    assert market.ir_rate(payments, costs, contributing=np.array([True, True, False])) == 0.5
    assert math.isnan(market.ir_rate(payments, costs, contributing=np.zeros(3, dtype=bool)))


def test_fairness_summary_keys_and_values() -> None:
    contributions = np.array([0.4, 0.0, 0.2, 0.1])
    allocation = market.make_mechanism("proportional").allocate(contributions, budget=1.0)
    summary = market.fairness_summary(
        allocation.payments,
        contributions,
        budget=1.0,
        costs=np.full(4, 0.05),
        ground_truth=np.array([0.5, 0.0, 0.1, 0.1]),
    )
    assert set(summary) == {
        "pearson",
        "spearman",
        "pearson_truth",
        "spearman_truth",
        "jain",
        "gini",
        "ir_violations",
        "ir_shortfall",
        "ir_rate",
        "free_rider_share",
        "budget_balance",
    }
    assert summary["pearson"] == pytest.approx(1.0)
    assert summary["budget_balance"] == pytest.approx(1.0)
    assert summary["free_rider_share"] == 0.0
    assert summary["ir_violations"] == 1.0
    assert summary["ir_rate"] == 1.0  # the violator is the null player, not a contributor
    assert all(isinstance(v, float) for v in summary.values())


def test_fairness_summary_degenerate_round() -> None:
    summary = market.fairness_summary(np.zeros(3), np.zeros(3), budget=1.0)
    assert math.isnan(summary["pearson"]) and math.isnan(summary["jain"])
    assert summary["budget_balance"] == 0.0
