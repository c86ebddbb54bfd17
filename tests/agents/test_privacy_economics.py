"""The price of privacy in the market (issue 29): the epsilon a participant would spend is
part of its cost of joining and of its bid, the auction reimburses it at the threshold price
while a value-only mechanism does not, and an epsilon menu lets sensitive participants spend
less."""

from __future__ import annotations

import dataclasses
import math

import dp_accounting
import numpy as np
import pandas as pd
import pytest

from agents import ParticipantGroup, Scenario, ScenarioError
from agents.economics import owner_economics, owner_privacy_prices
from agents.model import MarketModel
from agents.participants import ParticipantAgent
from agents.run import run
from agents.scenario.dp_section import DPSection
from tests.agents.conftest import tiny_scenario

DELTA = 1e-5


def _scenario(
    price: float,
    *,
    mechanism: str = "pooled_value",
    dp: bool = True,
    menu: tuple[float, ...] = (),
    spread: float = 0.0,
    exploration: float = 0.1,
    rounds: int = 2,
    seed: int = 0,
    count: int = 4,
) -> Scenario:
    base = tiny_scenario(
        ParticipantGroup("honest", count=count, data_size=60),
        rounds=rounds,
        seed=seed,
        mechanism=mechanism,
        exploration=exploration,
    )
    section = DPSection(enabled=dp, epsilon=8.0, delta=DELTA, menu=menu)
    economics = dataclasses.replace(
        base.economics, privacy_price=price, privacy_price_spread=spread
    )
    return dataclasses.replace(
        base, privacy=dataclasses.replace(base.privacy, dp=section), economics=economics
    )


def _tables(result: object) -> list[pd.DataFrame]:
    frames = [result.rounds, result.participants]  # type: ignore[attr-defined]
    return [f[[c for c in f if not c.endswith("seconds")]] for f in frames]


def _gaussian_epsilon(mu_squared: float) -> float:
    """The library's epsilon of a ``sqrt(mu_squared)``-GDP Gaussian mechanism."""
    if mu_squared <= 0:
        return 0.0
    accountant = dp_accounting.pld.PLDAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(1 / math.sqrt(mu_squared)))
    return float(accountant.get_epsilon(DELTA))


def test_privacy_costs_nothing_without_dp_or_at_price_zero() -> None:
    # Prepare: a private cost factor, so that a moved draw would show in the costs
    def costed(scenario: Scenario) -> Scenario:
        return scenario.replace("economics.cost_spread", 0.5)

    # Execute
    free = run(costed(_scenario(0.0, dp=False)))
    priced_no_dp = run(costed(_scenario(20.0, dp=False, spread=1.0)))
    dp_free = run(costed(_scenario(0.0)))

    # Assert: the price changes nothing without DP (no draw moved), nothing at price 0
    for a, b in zip(_tables(free), _tables(priced_no_dp), strict=True):
        keep = [c for c in a if c != "privacy_price"]
        pd.testing.assert_frame_equal(a[keep], b[keep])
    assert (priced_no_dp.participants["privacy_price"] > 0).all()
    for result in (free, priced_no_dp, dp_free):
        assert (result.participants["privacy_cost"] == 0).all()
        assert result.summary["total_privacy_cost"] == 0
    assert (dp_free.participants["dp_epsilon"] > 0).any()
    model = MarketModel(costed(_scenario(0.0)))
    assert all(p.privacy_cost() == 0 for p in model.participants)


def test_expected_and_realised_privacy_cost_are_the_accountants_increase() -> None:
    # Prepare: everyone joins every round, so each round includes all n and t = n
    scenario = _scenario(3.0, exploration=1.0, rounds=3)
    model = MarketModel(scenario)
    z, n = model.plan.dp.noise_multiplier, scenario.n_identities
    for _ in range(scenario.rounds):
        before = {p.pid: p.privacy.mu_squared for p in model.participants}
        expected = {p.pid: p.privacy_cost() for p in model.participants}

        # Execute
        model.step()

        # Assert: the forecast prices the increase of epsilon at mu^2 = t c^2 / z^2, and a
        # round that included everyone is charged exactly that
        for p in model.participants:
            mu = before[p.pid]
            increase = _gaussian_epsilon(mu + n / z**2) - _gaussian_epsilon(mu)
            assert expected[p.pid] == pytest.approx(3.0 * increase, rel=0.01)
            assert p.included
            assert p.privacy_cost_incurred == pytest.approx(expected[p.pid], rel=1e-9)
            assert p.cost_incurred == pytest.approx(p.metered_cost + p.privacy_cost_incurred)
    final = model.participants_table().query(f"round == {scenario.rounds}")
    assert final["dp_epsilon"].to_numpy() == pytest.approx(8.0, rel=0.01)


def test_higher_privacy_sensitivity_lowers_participation_under_value_pay() -> None:
    joined = {}
    for price in (0.0, 2.0, 20.0):
        for seed in (0, 1, 2):
            result = run(_scenario(price, rounds=3, seed=seed))
            joined[price, seed] = float(result.participants["joined"].mean())
    for seed in (0, 1, 2):
        assert joined[0.0, seed] >= joined[2.0, seed] >= joined[20.0, seed], joined
        assert joined[20.0, seed] < joined[0.0, seed] - 0.5, joined


def _check_the_auction_reimburses_privacy(model: MarketModel) -> None:
    """Every winner's escrow (its threshold price) covers its expected cost, privacy
    included, and the privacy cost it then incurred."""
    expected = {p.pid: (p.expected_cost, p.privacy_cost()) for p in model.participants}
    model.step()
    escrow = model.platform.selection.escrow
    winners = [p for p in model.participants if p.selected]
    assert winners
    for p in winners:
        cost, privacy = expected[p.pid]
        assert privacy > 0
        assert escrow[p.pid] >= cost - 1e-9, (p.pid, escrow[p.pid], cost)
        assert escrow[p.pid] >= p.cost_incurred > p.metered_cost
        assert p.reward <= escrow[p.pid] + 1e-9


def test_the_auction_reimburses_privacy_at_the_threshold_price_value_pay_does_not() -> None:
    # Prepare: a privacy cost of about twice an even share of the budget
    auction = _scenario(8.0, mechanism="auction", exploration=1.0)
    value_priced = _scenario(8.0, exploration=1.0)
    value_free = _scenario(0.0, exploration=1.0)

    # Execute / Assert: the auction's threshold price covers the bid, privacy included
    _check_the_auction_reimburses_privacy(MarketModel(auction))
    # the value-based mechanism pays exactly what it pays without a privacy price
    priced, free = run(value_priced), run(value_free)
    pd.testing.assert_series_equal(priced.participants["reward"], free.participants["reward"])
    included = priced.participants[priced.participants["included"]]
    assert (included["privacy_cost"] > 0).all()
    assert included["reward"].sum() < included["cost"].sum()


def test_a_bid_without_the_privacy_cost_fails_the_reimbursement_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare: the broken participant leaves its privacy cost out of its bid
    def broken_bid(p: ParticipantAgent) -> float:
        return (p.expected_cost - p.privacy_cost()) * p.params.bid_factor

    monkeypatch.setattr(ParticipantAgent, "declared_cost", property(broken_bid))
    model = MarketModel(_scenario(8.0, mechanism="auction", exploration=1.0))

    # Execute / Assert: all four win at a quarter of the budget, below their privacy cost
    with pytest.raises(AssertionError):
        _check_the_auction_reimburses_privacy(model)


def test_the_menu_lowers_epsilon_for_sensitive_participants() -> None:
    # Prepare: prices spread across owners, one menu
    menu = (1.0, 0.5, 0.25)
    spread = _scenario(5.0, menu=menu, spread=1.5, exploration=1.0, count=8)
    insensitive = _scenario(0.0, menu=menu, exploration=1.0)
    sensitive = _scenario(20.0, menu=menu, exploration=1.0)

    # Execute
    mixed, low, high = run(spread), run(insensitive), run(sensitive)

    # Assert: in round 1 (the same expected pay, nothing spent yet) the factor falls with
    # the price, and the factor chosen sets the epsilon spent
    first = mixed.participants.query("round == 1").sort_values("privacy_price")
    assert first["dp_clip_factor"].is_monotonic_decreasing
    assert first["dp_clip_factor"].nunique() > 1
    assert (np.diff(first["dp_epsilon"].to_numpy()) <= 1e-9).all()
    assert (low.participants["dp_clip_factor"] == 1.0).all()
    assert (high.participants["dp_clip_factor"] < 1.0).all()
    assert set(high.participants["dp_clip_factor"]) <= set(menu)
    assert high.summary["dp_epsilon"] < low.summary["dp_epsilon"] / 2
    # without a menu every update is held to the clip
    plain = run(_scenario(20.0, exploration=1.0))
    assert (plain.participants["dp_clip_factor"] == 1.0).all()


def test_same_seed_same_tables() -> None:
    scenario = _scenario(5.0, mechanism="auction", menu=(1.0, 0.5), spread=1.0, rounds=3, count=5)
    first, second = run(scenario), run(scenario)
    for a, b in zip(_tables(first), _tables(second), strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert first.participants["privacy_price"].nunique() == 5
    other = run(scenario.replace("seed", 1))
    assert not other.participants["privacy_price"].equals(first.participants["privacy_price"])


def test_privacy_prices_have_the_stated_mean_and_move_no_other_draw() -> None:
    economics = _scenario(4.0, spread=0.8).economics.__class__(
        privacy_price=4.0, privacy_price_spread=0.8, cost_spread=0.5, entrants=0.5
    )
    first, second = np.random.default_rng(7), np.random.default_rng(7)
    factors, arrivals = owner_economics(economics, 20_000, first)
    prices = owner_privacy_prices(economics, 20_000, first)
    assert owner_economics(economics, 20_000, second) == (factors, arrivals)
    assert np.mean(prices) == pytest.approx(4.0, rel=0.03)
    assert np.std(np.log(prices)) == pytest.approx(0.8, rel=0.03)
    off = dataclasses.replace(economics, privacy_price=0.0)
    assert owner_privacy_prices(off, 3, np.random.default_rng(0)) == [0.0] * 3


def test_bad_privacy_settings_are_refused_with_the_field_named() -> None:
    scenario = _scenario(1.0)
    with pytest.raises(ScenarioError, match=r"^economics\.privacy_price: "):
        scenario.replace("economics.privacy_price", -1.0)
    with pytest.raises(ScenarioError, match=r"^economics\.privacy_price_spread: "):
        scenario.replace("economics.privacy_price_spread", 9.0)
    for bad in ([0.0], [1.5], ["a"], [0.5] * 17):
        with pytest.raises(ScenarioError, match=r"^privacy\.dp\.menu: "):
            scenario.replace("privacy.dp.menu", bad)
    text = scenario.replace("privacy.dp.menu", [1.0, 0.5]).to_toml()
    assert Scenario.from_toml_string(text).privacy.dp.menu == (1.0, 0.5)
