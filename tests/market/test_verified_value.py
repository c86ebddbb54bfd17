"""The noise-aware valuation (Banzhaf with standard errors) and the ``verified_value`` rule."""

from __future__ import annotations

import numpy as np
import pytest

import market
from market.mechanisms.verified_value import VerifiedValue


def example_table(per_player: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """An additive game per example: ``u_e(S) = sum_{i in S} a_ie`` with example noise."""
    n, examples = per_player.shape[0], 400
    contributions = per_player[:, None] + noise * rng.standard_normal((n, examples))
    masks = np.arange(1 << n)
    bits = (masks[:, None] >> np.arange(n)[None, :]) & 1
    out: np.ndarray = bits @ contributions
    return out


def test_banzhaf_valuation_matches_the_exact_value_and_the_per_example_error() -> None:
    # Prepare: an additive game, so Banzhaf = each player's mean contribution
    rng = np.random.default_rng(0)
    table = example_table(np.array([0.3, 0.0, -0.2]), rng, noise=1.0)
    # Execute
    valuation = market.banzhaf_valuation(table)
    # Assert: the mean equals the table's exact Banzhaf value, the error is sd / sqrt(E)
    assert np.allclose(valuation.values, market.banzhaf_from_table(table.mean(axis=1)))
    assert np.allclose(valuation.stderr, 1.0 / np.sqrt(400), rtol=0.15)
    assert valuation.gain == pytest.approx(table[-1].mean() - table[0].mean())


def test_msr_estimates_the_banzhaf_value_with_its_sampling_error() -> None:
    rng = np.random.default_rng(1)
    table = example_table(np.array([0.3, 0.0, -0.2, 0.1]), rng, noise=1.0)
    rows = market.sample_coalitions(4, 400, np.random.default_rng(2))
    masks = rows @ (1 << np.arange(4))
    estimate = market.banzhaf_msr(rows, table[masks], table[-1], table[0])
    exact = market.banzhaf_valuation(table)
    assert np.all(np.abs(estimate.values - exact.values) < 4 * estimate.stderr)
    assert estimate.sampling_stderr is not None and np.all(estimate.sampling_stderr > 0)
    assert np.all(estimate.stderr > exact.stderr)  # sampling adds to the examples' spread


def test_repeated_validation_luck_is_not_counted_as_new_evidence() -> None:
    """Review finding: every round is scored on the same examples, so a value that is luck
    on those examples must not become significant by repetition."""
    rng = np.random.default_rng(3)
    luck = rng.standard_normal(128)
    luck = (luck - luck.mean()) / luck.std(ddof=1) + 0.75 / np.sqrt(128)  # z = 0.75
    luck *= 0.01
    per_round = np.stack([luck, 0.05 + 0.001 * rng.standard_normal(128)])
    se = per_round.std(axis=1, ddof=1) / np.sqrt(128)
    ledger = market.PaymentLedger.initial(2)
    mechanism = VerifiedValue()
    paid = []
    for _ in range(8):
        allocation = mechanism.allocate(
            per_round.mean(axis=1),
            budget=100.0,
            costs=np.array([5.0, 5.0]),
            stderr=np.zeros(2),
            example_values=per_round,
            gain=(0.1, 0.0),
            ledger=ledger,
        )
        assert allocation.ledger is not None
        ledger = allocation.ledger
        paid.append(allocation.payments[0])
    assert per_round[0].mean() / se[0] < 1.645  # not significant in one round
    assert max(paid) == 0.0  # and not after 8 rounds of the same examples either
    # the broken variant (rounds' variances summed as if independent) verifies it
    broken = market.PaymentLedger.initial(2)
    verified = False
    for _ in range(8):
        allocation = mechanism.allocate(
            per_round.mean(axis=1),
            budget=100.0,
            costs=np.array([5.0, 5.0]),
            stderr=se,
            gain=(0.1, 0.0),
            ledger=broken,
        )
        assert allocation.ledger is not None
        broken = allocation.ledger
        verified = verified or allocation.payments[0] > 0
    assert verified


def pay(
    values: list[float],
    stderr: list[float],
    *,
    gain: tuple[float, float] | None = (0.1, 0.0),
    costs: list[float] | None = None,
    ledger: market.PaymentLedger | None = None,
    groups: list[int] | None = None,
) -> market.Allocation:
    n = len(values)
    return VerifiedValue().allocate(
        np.array(values),
        budget=100.0,
        costs=np.array(costs if costs is not None else [5.0] * n),
        stderr=np.array(stderr),
        gain=gain,
        ledger=ledger or market.PaymentLedger.initial(n),
        groups=None if groups is None else np.array(groups),
    )


def test_only_verified_value_is_paid_and_the_rest_is_held() -> None:
    allocation = pay([0.02, 0.02, 0.0, -0.03], [0.005, 0.02, 0.005, 0.005])
    # player 0 is 4 standard errors above 0; player 1 is 1: held, not refused
    assert allocation.payments[0] > 5.0
    assert allocation.payments[1:].tolist() == [0.0, 0.0, 0.0]
    assert allocation.ledger is not None and allocation.ledger.held is not None
    held = allocation.ledger.held
    assert held[1] == pytest.approx(allocation.payments[0])  # same value, same allocation
    assert held[2] == pytest.approx(5.0) and held[3] == pytest.approx(5.0)  # covers only
    assert allocation.total + held.sum() == pytest.approx(100.0)


def test_a_round_without_a_significant_gain_allocates_nothing() -> None:
    allocation = pay([0.02, 0.02], [0.001, 0.001], gain=(0.004, 0.003))
    assert allocation.total == 0.0
    assert allocation.ledger is not None and allocation.ledger.held is not None
    assert allocation.ledger.held.sum() == 0.0
    # the pot follows the gain's lower bound: half the full-budget gain, half the budget
    half = pay([0.02, 0.02], [0.001, 0.001], gain=(0.025, 0.0))
    assert half.total == pytest.approx(50.0)


def test_what_was_held_is_paid_once_the_value_is_verified() -> None:
    first = pay([0.01, 0.05], [0.01, 0.005])
    assert first.payments[0] == 0.0  # not yet verified
    assert first.ledger is not None and first.ledger.held is not None
    held = float(first.ledger.held[0])
    second = pay([0.01, 0.0], [0.001, 0.005], ledger=first.ledger)
    # cumulative value 0.02 with standard error ~0.01: verified now, round 1 paid too
    assert second.payments[0] > held > 0.0
    assert second.ledger is not None and second.ledger.held is not None
    assert second.ledger.held[0] == 0.0


def test_symmetric_and_monotone_in_the_round_value() -> None:
    allocation = pay([0.01, 0.02, 0.02, 0.04], [0.001] * 4)
    p = allocation.payments
    assert p[0] < p[1] < p[3]
    assert p[1] == pytest.approx(p[2])
    assert allocation.total <= 100.0 + 1e-9


def test_replicas_are_covered_once() -> None:
    alone = pay([0.02, 0.02], [0.001, 0.001])
    copied = pay([0.02, 0.02], [0.001, 0.001], groups=[0, 0])
    assert copied.ledger is not None and alone.ledger is not None
    assert copied.ledger.cost.sum() == pytest.approx(5.0)
    assert alone.ledger.cost.sum() == pytest.approx(10.0)


def test_carried_reserve_lets_a_round_pay_beyond_its_budget_for_gain_only() -> None:
    common = {
        "budget": 100.0,
        "costs": np.array([5.0, 5.0]),
        "stderr": np.array([0.001, 0.001]),
        "ledger": market.PaymentLedger.initial(2),
    }
    values = np.array([0.2, 0.2])
    rich = VerifiedValue().allocate(values, gain=(1.0, 0.0), reserve=50.0, **common)
    assert rich.total == pytest.approx(150.0)
    none = VerifiedValue().allocate(values, gain=(0.0, 0.0), reserve=50.0, **common)
    assert none.total == 0.0


def test_a_broken_variant_that_ignores_the_error_pays_noise() -> None:
    """The gate is what keeps noise unpaid: without the errors, a noisy value is paid."""
    noisy = [0.02, 0.0]
    with_errors = pay(noisy, [0.02, 0.001])
    without = pay(noisy, [0.0, 0.0])
    assert with_errors.payments[0] == 0.0 and without.payments[0] > 0.0


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="full_budget_gain"):
        VerifiedValue(full_budget_gain=0.0)
    with pytest.raises(ValueError, match="stderr"):
        pay([0.1], [-1.0])
    with pytest.raises(ValueError, match="reserve"):
        VerifiedValue().allocate(np.array([0.1]), budget=1.0, reserve=-1.0)


def test_a_lower_confidence_verifies_sooner() -> None:
    common = {
        "budget": 100.0,
        "costs": np.array([5.0, 5.0]),
        "stderr": np.array([0.01, 0.001]),
        "gain": (0.1, 0.0),
        "ledger": market.PaymentLedger.initial(2),
    }
    values = np.array([0.012, 0.05])  # z = 1.2 for player 0
    strict = VerifiedValue().allocate(values, **common)
    lenient = VerifiedValue(confidence=0.8).allocate(values, **common)
    assert strict.payments[0] == 0.0 < lenient.payments[0]
    with pytest.raises(ValueError, match="confidence"):
        VerifiedValue(confidence=0.4)


def test_a_release_is_paid_in_full_on_top_of_the_round_and_money_is_conserved() -> None:
    """Review finding: releasing held money on top of a full pot used to be scaled down
    (cutting others' pay) and the unpaid rest destroyed."""
    mechanism = VerifiedValue()
    common = {"budget": 1.0, "costs": np.array([0.1, 0.1]), "gain": (1.0, 0.0)}
    first = mechanism.allocate(
        np.array([0.01, 0.05]),
        stderr=np.array([0.01, 0.001]),
        ledger=market.PaymentLedger.initial(2),
        **common,  # type: ignore[arg-type]
    )
    assert first.ledger is not None and first.ledger.held is not None
    held = float(first.ledger.held[0])
    assert held > 0 and first.total + held == pytest.approx(1.0)
    second = mechanism.allocate(
        np.array([0.02, 0.05]),
        stderr=np.array([0.001, 0.001]),
        ledger=first.ledger,
        **common,  # type: ignore[arg-type]
    )
    alone = mechanism.allocate(
        np.array([0.02, 0.05]),
        stderr=np.array([0.001, 0.001]),
        ledger=market.PaymentLedger.initial(2),
        **common,  # type: ignore[arg-type]
    )
    assert second.payments[1] == pytest.approx(alone.payments[1])  # others unaffected
    assert second.payments[0] == pytest.approx(alone.payments[0] + held)  # release in full
    assert second.ledger is not None and second.ledger.held is not None
    assert second.ledger.held.sum() == 0.0
    assert first.total + second.total == pytest.approx(2.0)  # both budgets, nothing lost
