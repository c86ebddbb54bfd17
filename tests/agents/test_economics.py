"""Participant economics: private costs, outside options, learning from posted pay, churn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from agents import ParticipantGroup, run
from agents.economics import (
    participation_by_type,
    round_economics,
    type_levels,
    welfare_summary,
)
from agents.join_policies import (
    JOIN_POLICIES,
    ExperienceWeightedAttraction,
    JoinOutcome,
    JoinPolicy,
    JoinSituation,
    MovingAverage,
    RegretMatching,
    register_join_policy,
)
from agents.scenario import EconomicsSection, Scenario, ScenarioError

from .conftest import tiny_scenario

EWA = {"ewa_phi": 0.9, "ewa_delta": 0.5, "ewa_rho": 0.9, "ewa_lambda": 0.3}


def _out(foregone: float, reservation: float = 0.0) -> JoinOutcome:
    return JoinOutcome(
        joined=False, reward=0.0, profit=0.0, foregone=foregone, reservation=reservation
    )


def _join_rate(policy: JoinPolicy, belief: dict, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    return float(
        np.mean(
            [
                policy.decide(belief, JoinSituation(expected_cost=5.0, reservation=0.0), rng)
                for _ in range(2000)
            ]
        )
    )


def test_ewa_learns_what_joining_would_pay_while_staying_out() -> None:
    """A pessimistic newcomer (prior pay below cost) stays out; the posted pay says joining
    would earn +20 a round: with foregone payoffs weighted (delta > 0) it comes to join,
    as pure reinforcement (delta = 0, the broken variant) only forgets its prior (towards
    a coin flip) and never learns the +20."""
    rates = {}
    for delta in (0.0, 0.5):
        policy = ExperienceWeightedAttraction(**{**EWA, "ewa_delta": delta})
        belief = policy.initial_belief(JoinSituation(5.0, 0.0, prior_reward=0.0))
        before = _join_rate(policy, belief)
        for _ in range(6):
            policy.learn(belief, _out(foregone=20.0))
        rates[delta] = (before, _join_rate(policy, belief))
    assert rates[0.5][0] < 0.3 and rates[0.5][1] > 0.9
    assert rates[0.0][1] < 0.6


def test_ewa_leaves_after_losses_and_ignores_unposted_rates() -> None:
    policy = ExperienceWeightedAttraction(**EWA)
    belief = policy.initial_belief(JoinSituation(5.0, 0.0, prior_reward=20.0))
    assert _join_rate(policy, belief) > 0.9
    for _ in range(6):
        policy.learn(
            belief, JoinOutcome(True, reward=1.0, profit=-4.0, foregone=math.nan, reservation=0.0)
        )
    assert _join_rate(policy, belief) < 0.4  # logit: a 4-unit loss at lambda 0.3
    frozen = dict(belief)
    policy.learn(belief, _out(foregone=math.nan))  # nothing known: joining keeps its value
    assert belief["attraction_join"] == frozen["attraction_join"]


def test_regret_matching_switches_towards_the_better_action() -> None:
    policy = RegretMatching()
    belief = policy.initial_belief(JoinSituation(5.0, 1.0, prior_reward=0.0))
    assert _join_rate(policy, belief) == 0.0  # no regret yet: repeats staying out
    for _ in range(3):
        policy.learn(belief, _out(foregone=10.0, reservation=1.0))
    assert belief["regret_join"] == pytest.approx(27.0) and belief["regret_out"] == 0.0
    assert _join_rate(policy, belief) == 1.0
    for _ in range(10):
        policy.learn(
            belief, JoinOutcome(True, reward=0.0, profit=-5.0, foregone=math.nan, reservation=1.0)
        )
    rate = _join_rate(policy, belief)
    assert 0.0 < rate < 0.6  # regret for not staying out (60) now outweighs the rest (27)


def test_moving_average_is_the_original_rule() -> None:
    policy = MovingAverage(learning_rate=0.5)
    belief = policy.initial_belief(JoinSituation(5.0, 0.0, prior_reward=10.0))
    assert _join_rate(policy, belief) == 1.0
    policy.learn(
        belief, JoinOutcome(True, reward=0.0, profit=-5.0, foregone=math.nan, reservation=0.0)
    )
    assert belief["expected_reward"] == 5.0 and _join_rate(policy, belief) == 1.0
    policy.learn(belief, _out(foregone=100.0))  # it does not learn from rounds it sat out
    assert belief["expected_reward"] == 5.0
    assert (
        policy.decide(
            belief,
            JoinSituation(expected_cost=5.0, reservation=0.1),
            np.random.default_rng(0),
        )
        is False
    )


def test_a_registered_join_policy_runs_from_the_scenario() -> None:
    @register_join_policy
    class AlwaysOut(JoinPolicy):
        name = "always_out_test"

        def initial_belief(self, situation: JoinSituation) -> dict:
            return {}

        def decide(self, belief: dict, situation: JoinSituation, rng: object) -> bool:
            return False

        def learn(self, belief: dict, outcome: JoinOutcome) -> None:
            pass

    try:
        scenario = tiny_scenario(rounds=1).replace("economics.join_policy", "always_out_test")
        assert run(scenario).participants["joined"].sum() == 0
    finally:
        JOIN_POLICIES.unregister("always_out_test")
    with pytest.raises(ScenarioError, match="economics.join_policy"):
        tiny_scenario().replace("economics.join_policy", "always_out_test")


def test_costs_follow_compute_time_data_and_a_private_factor() -> None:
    """A slow participant pays more for the same work; the platform meters the public
    formula, never the private factor."""
    scenario = tiny_scenario(
        ParticipantGroup("fast", count=2, data_size=60, speed=10.0, cost=1.0),
        ParticipantGroup("slow", count=2, data_size=60, speed=1.0, cost=1.0),
        rounds=1,
        exploration=1.0,
    )
    scenario = (
        scenario.replace("economics.compute_price", 0.1)
        .replace("economics.data_price", 0.01)
        .replace("economics.cost_spread", 0.5)
    )
    from agents.model import MarketModel

    model = MarketModel(scenario)
    model.step()
    for p in model.participants:
        assert p.samples > 0
        metered = 1.0 + 0.1 * p.samples / p.speed + 0.01 * min(p.samples, len(p.shard))
        assert p.metered_cost == pytest.approx(metered)
        assert p.cost_incurred == pytest.approx(metered * p.cost_factor)
    factors = {p.cost_factor for p in model.participants}
    assert len(factors) == 4 and all(f > 0 for f in factors)
    fast = [p for p in model.participants if p.group == "fast"]
    slow = [p for p in model.participants if p.group == "slow"]
    per_sample = lambda ps: np.mean([(p.metered_cost - 1.0) / p.samples for p in ps])  # noqa: E731
    assert per_sample(slow) > 2 * per_sample(fast)


def test_entrants_arrive_later_and_losers_leave() -> None:
    base = tiny_scenario(ParticipantGroup("honest", count=4, data_size=40), rounds=3)
    late = run(base.replace("economics.entrants", 1.0).replace("economics.entry_rate", 0.5))
    first = late.participants[late.participants["round"] == 1]
    assert not first["in_market"].any() and not first["available"].any()
    # everyone joins (exploration 1) and loses against a huge outside option: all leave
    leave = base.replace("economics.reservation", 1e6).replace("economics.exit_after", 1)
    leave = leave.replace("market.exploration", 1.0)
    table = run(leave).participants
    assert table[table["round"] == 1]["joined"].all()
    assert not table[table["round"] == 2]["available"].any()
    assert not table[table["round"] == 2]["in_market"].any()


def test_same_seed_same_tables_with_economics_on() -> None:
    scenario = (
        tiny_scenario(ParticipantGroup("honest", count=4, data_size=40), rounds=2)
        .replace("economics.join_policy", "ewa")
        .replace("economics.cost_spread", 0.3)
        .replace("economics.entrants", 0.5)
        .replace("economics.compute_price", 0.05)
    )
    a, b = run(scenario), run(scenario)
    timing = [c for c in a.rounds if c.endswith("seconds")]
    assert a.rounds.drop(columns=timing).equals(b.rounds.drop(columns=timing))
    assert a.participants.equals(b.participants)


def test_posted_rate_is_pay_per_metered_example() -> None:
    result = run(tiny_scenario(ParticipantGroup("honest", count=3, data_size=60), rounds=1))
    row = result.rounds.iloc[1]
    parts = result.participants[result.participants["included"]]
    assert row["posted_rate"] == pytest.approx(
        parts["reward"].sum() / np.minimum(parts["samples"], parts["n_examples"]).sum()
    )


def test_types_welfare_and_participation_by_type() -> None:
    assert list(type_levels(pd.Series([5, 5, 5]))) == ["all"] * 3
    assert list(type_levels(pd.Series([1, 9, 1]))) == ["low", "high", "low"]
    assert list(type_levels(pd.Series([1, 2, 3, 4, 5, 6]))) == [
        "low",
        "low",
        "mid",
        "mid",
        "high",
        "high",
    ]
    parts = pd.DataFrame(
        {
            "round": [1, 1, 2, 2],
            "participant": [0, 1, 0, 1],
            "group": ["small", "large", "small", "large"],
            "n_examples": [60, 600, 60, 600],
            "quality": [1.0, 1.0, 1.0, 1.0],
            "speed": [3.2, 3.2, 3.2, 3.2],
            "joined": [True, False, True, True],
            "reward": [50.0, 0.0, 30.0, 60.0],
            "cost": [5.0, 0.0, 5.0, 25.0],
        }
    )
    shares = participation_by_type(parts)
    size = shares[shares["attribute"] == "data_size"].set_index(["round", "level"])["participation"]
    assert size[(1, "high")] == 0.0 and size[(2, "high")] == 1.0 and size[(1, "low")] == 1.0
    rounds = pd.DataFrame({"test_accuracy": [0.5, 0.6, 0.7], "budget_paid": [0.0, 50.0, 90.0]})
    out = welfare_summary(
        rounds, parts, EconomicsSection(reservation=2.0, value_per_accuracy=1000.0)
    )
    assert out["accuracy_gain"] == pytest.approx(0.2)
    assert out["platform_utility"] == pytest.approx(0.2 / 140.0)
    assert out["social_welfare"] == pytest.approx(200.0 - 35.0 - 3 * 2.0)
    assert out["participant_surplus"] == pytest.approx(140.0 - 35.0 - 6.0)
    assert out["participation_data_size_high"] == pytest.approx(0.5)
    assert out["participation_group_large"] == pytest.approx(0.5)
    rounds["round"] = [0, 1, 2]
    per_round = round_economics(rounds, parts, EconomicsSection(reservation=2.0))
    assert list(per_round["round"]) == [1, 2]
    assert per_round["social_welfare"].sum() == pytest.approx(out["social_welfare"])
    assert per_round["participant_surplus"].sum() == pytest.approx(out["participant_surplus"])
    assert per_round["platform_utility"].iloc[0] == pytest.approx(0.1 / 50.0)
    assert out["participation_group_small"] == pytest.approx(1.0)


def test_bad_economics_gets_one_line_naming_the_field() -> None:
    for path, value in (
        ("economics.cost_spread", -1.0),
        ("economics.exit_after", 1.5),
        ("economics.entrants", 2.0),
        ("economics.entry_rate", 0.0),
        ("economics.ewa_lambda", 0.0),
        ("economics.reservation", float("nan")),
    ):
        with pytest.raises(ScenarioError, match=path.replace(".", r"\.")) as error:
            Scenario().replace(path, value)
        assert "\n" not in str(error.value)


def test_compute_is_charged_on_the_owner_hardware_for_lazy_and_split_identities() -> None:
    """Seconds are ``samples / the owner's speed``: a lazy participant pays for the samples
    it trained, and splitting one owner's data and compute over three identities does not
    triple the compute it is metered (and reimbursed) for."""
    from agents.model import MarketModel

    def metered(*groups: ParticipantGroup) -> dict[str, float]:
        scenario = tiny_scenario(*groups, rounds=1, exploration=1.0)
        model = MarketModel(scenario.replace("economics.compute_price", 1.0))
        model.step()
        out: dict[str, float] = {}
        for p in model.participants:
            out[p.group] = out.get(p.group, 0.0) + p.metered_cost
        return out

    lazy = metered(
        ParticipantGroup("honest", count=2, data_size=300, cost=0.0),
        ParticipantGroup("lazy", count=1, data_size=300, cost=0.0, strategy="lazy"),
    )
    assert lazy["lazy"] == pytest.approx(16 / 3.2) and lazy["honest"] == pytest.approx(2 * 60.0)
    split = metered(
        ParticipantGroup("honest", count=2, data_size=300, cost=0.0),
        ParticipantGroup("sybil", count=1, data_size=300, cost=0.0, strategy="sybil"),
    )
    assert split["sybil"] == pytest.approx(split["honest"] / 2, rel=0.05)


def test_a_sybil_owner_shares_one_outside_option_over_its_identities() -> None:
    from agents.model import MarketModel

    scenario = tiny_scenario(
        ParticipantGroup("honest", count=1, data_size=60),
        ParticipantGroup("sybil", count=1, data_size=60, strategy="sybil", sybil_identities=3),
    ).replace("economics.reservation", 3.0)
    model = MarketModel(scenario)
    by_group = {p.group: p.reservation for p in model.participants}
    assert by_group == {"honest": 3.0, "sybil": 1.0}


def test_heavy_ties_share_a_level_and_never_crash() -> None:
    values = pd.Series([7.0] * 30 + [1, 2, 3, 4, 5, 6])
    levels = type_levels(values)
    assert set(levels[:30]) == {"mid"} and set(levels[30:]) == {"low"}
    speeds = pd.Series([3.2] * 6 + [3.2 / 3] * 3 + [1.0, 2.0])
    assert type_levels(speeds).groupby(speeds).nunique().max() == 1  # ties: one level each
    result = run(
        tiny_scenario(
            ParticipantGroup("a", count=6, data_size=60),
            ParticipantGroup("b", count=1, data_size=80),
            ParticipantGroup("c", count=1, data_size=100),
            ParticipantGroup("d", count=1, data_size=120),
            rounds=1,
        )
    )
    # six tied at 60 (average rank 3.5 of 9) are "mid", the three larger ones "high"
    assert result.summary["participation_data_size_mid"] == 1.0
    assert "participation_data_size_high" in result.summary
