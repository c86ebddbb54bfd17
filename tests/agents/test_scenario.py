"""Scenario validation, TOML round trips, dotted paths, and the shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import ParticipantGroup, Scenario, ScenarioError
from agents.scenario import list_examples, load_example


def test_default_round_trips_through_toml() -> None:
    scenario = Scenario()
    assert Scenario.from_toml_string(scenario.to_toml()) == scenario
    assert hash(scenario) == hash(Scenario.from_toml_string(scenario.to_toml()))


@pytest.mark.parametrize("name", list_examples())
def test_every_example_loads_and_round_trips(name: str) -> None:
    scenario = load_example(name)
    assert Scenario.from_toml_string(scenario.to_toml()) == scenario


def test_dotted_replace_and_get() -> None:
    scenario = load_example("free_riders")
    changed = scenario.replace("participants.free_riders.count", 1).replace(
        "market.mechanism", "flat"
    )
    assert changed.get("participants.free_riders.count") == 1
    assert changed.market.mechanism == "flat"
    assert scenario.get("participants.free_riders.count") == 3  # frozen original


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("market.round_budget", -1.0, "market.round_budget"),
        ("participants.honest.cost", "cheap", "participants.honest.cost"),
        ("model.mode", "full", "model.mode"),
        ("privacy.secure_aggregation", False, "privacy.access"),  # trusted evaluator needs it
        ("rounds", 0, "rounds"),
        ("market.nonsense", 1, "market.nonsense"),
    ],
)
def test_bad_values_name_the_field_in_one_line(path: str, value: object, field: str) -> None:
    with pytest.raises(ScenarioError) as error:
        Scenario().replace(path, value)
    message = str(error.value)
    assert message.startswith(field) and "\n" not in message


def test_unknown_keys_and_broken_toml(tmp_path: Path) -> None:
    bad = tmp_path / "s.toml"
    bad.write_text("rounds = 3\n[market]\nmechansim = 'flat'\n")
    with pytest.raises(ScenarioError, match=r"^market\.mechansim: unknown key"):
        Scenario.from_toml(bad)
    bad.write_text("rounds = = 3\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        Scenario.from_toml(bad)
    with pytest.raises(ScenarioError, match="file not found"):
        Scenario.from_toml(tmp_path / "absent.toml")


@given(
    count=st.integers(-5, 20),
    cost=st.floats(-10, 10, allow_nan=False),
    availability=st.floats(-1, 2, allow_nan=False),
)
@settings(max_examples=60, deadline=None)
def test_groups_accept_exactly_the_valid_ranges(
    count: int, cost: float, availability: float
) -> None:
    valid = 0 <= count and cost >= 0 and 0 <= availability <= 1
    try:
        ParticipantGroup("g", count=count, cost=cost, availability=availability)
    except ScenarioError as error:
        assert not valid
        assert str(error).startswith("participants.g.")
    else:
        assert valid


def test_sybil_identities_count_towards_identities() -> None:
    scenario = Scenario(
        participants=(
            ParticipantGroup("honest", count=2),
            ParticipantGroup("sybil", count=1, strategy="sybil", sybil_identities=4),
        )
    )
    assert scenario.n_identities == 6
