"""The gym's issue-25 attacks: each plays as its docstring says, and what it earns."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from agents import MarketModel, ParticipantGroup, run
from agents.attacks import ATTACKS, attacker_groups, ratio_interval
from tests.agents.conftest import tiny_scenario

NEW = (
    "copycat",
    "replay_old",
    "plagiarist",
    "lazy",
    "size_misreport",
    "cost_misreport",
    "complementary_split",
    "subtle_poisoner",
    "late_joiner",
)


def attacked(attack: str, rounds: int = 3) -> MarketModel:
    base = tiny_scenario(ParticipantGroup("honest", count=3, data_size=60), rounds=rounds)
    attacker, _ = attacker_groups(base, attack)
    model = MarketModel(replace(base, participants=(*base.participants, attacker)))
    while model.running:
        model.step()
    return model


def test_every_attack_the_issue_names_is_in_the_gym() -> None:
    assert set(NEW) <= set(ATTACKS)


@pytest.mark.parametrize("attack", ["copycat", "replay_old"])
def test_sending_without_training_is_rejected_and_unpaid(attack: str) -> None:
    table = attacked(attack).participants_table()
    rows = table[table["group"] == "attacker"]
    sent = rows[rows["round"] >= 2]  # from round 2 there is something to copy
    assert (sent["samples"] == 0).all() and not sent["included"].any()
    assert rows["reward"].sum() == 0.0
    assert rows["cost"].sum() == 0.0


def test_a_replay_is_an_earlier_global_step_not_the_last() -> None:
    model = attacked("replay_old", rounds=3)
    assert len(model.global_steps) == 2  # only the replay lag's worth is kept
    replayer = next(p for p in model.participants if p.group == "attacker")
    # in round 3 it sent round 1's step (lag 2), rescaled to round 2's norm, plus 10% noise
    assert replayer.rejected_reason.startswith("no metered training")


def test_a_lazy_client_trains_and_pays_for_few_samples() -> None:
    table = attacked("lazy").participants_table()
    lazy = table[table["group"] == "attacker"]
    honest = table[table["group"] == "honest"]
    assert (lazy["samples"] <= 16).all() and (lazy["samples"] > 0).all()
    assert lazy["cost"].max() < honest["cost"].min()


def test_a_plagiarist_holds_the_first_owners_data() -> None:
    model = attacked("plagiarist", rounds=1)
    by_group = sorted(model.participants, key=lambda p: p.pid)
    assert np.array_equal(by_group[-1].shard, by_group[0].shard)


def test_a_complementary_split_gives_each_identity_other_classes() -> None:
    model = attacked("complementary_split", rounds=1)
    pieces = [p for p in model.participants if p.group == "attacker"]
    assert len(pieces) == 3
    label_sets = [set(np.unique(p.labels).tolist()) for p in pieces]
    assert len(label_sets[0] & label_sets[-1]) == 0  # the first and last pieces share no class


def test_a_late_joiner_is_absent_before_its_round() -> None:
    table = attacked("late_joiner").participants_table()
    rows = table[table["group"] == "attacker"]
    assert not rows[rows["round"] < 3]["available"].any()
    assert rows[rows["round"] == 3]["available"].all()


def test_the_relative_gain_is_a_ratio_of_means_with_an_interval() -> None:
    ratio, low, high = ratio_interval([12.0, 8.0, 11.0, 9.0], [10.0, 10.0, 10.0, 10.0])
    assert ratio == pytest.approx(0.0)
    assert low < 0 < high
    # a mean of per-seed ratios would be dominated by a seed with a tiny honest payoff
    ratio, _, _ = ratio_interval([2.0, 20.0], [0.1, 20.0])
    assert ratio == pytest.approx((1.9 + 0.0) / 2 / 10.05)


def test_new_attacks_validate_their_fields() -> None:
    from agents.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="join_round"):
        ParticipantGroup("x", join_round=0)
    with pytest.raises(ScenarioError, match="lazy_samples"):
        ParticipantGroup("x", lazy_samples=0)


def test_runs_with_new_attacks_are_seeded() -> None:
    base = tiny_scenario(ParticipantGroup("honest", count=2, data_size=60), rounds=2)
    attacker, _ = attacker_groups(base, "copycat")
    scenario = replace(base, participants=(*base.participants, attacker))
    first, second = run(scenario), run(scenario)
    assert first.participants.equals(second.participants)
