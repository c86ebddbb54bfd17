"""The market on every built-in task, and the natural partition of drug reviews: each owner
holds whole medical conditions (tiny random BERT, head mode)."""

from __future__ import annotations

import dataclasses

import pytest

from agents import ParticipantGroup
from agents.run import run
from agents.scenario import DataSection, ScenarioError
from fl_core.datasets import TASKS
from tests.agents.conftest import tiny_scenario


@pytest.mark.parametrize("name", tuple(TASKS))
def test_market_runs_on_every_task(name: str) -> None:
    base = tiny_scenario(ParticipantGroup("honest", count=3, data_size=40))
    scenario = dataclasses.replace(
        base, data=DataSection(dataset=name, val_size=60, max_length=32, utility_subset=60)
    )
    result = run(scenario)
    assert result.rounds["round"].max() == scenario.rounds  # round 0 is the initial model
    assert result.rounds["test_accuracy"].between(0, 1).all()
    assert result.participants["n_examples"].eq(40).all()


def test_natural_partition_gives_owners_whole_conditions() -> None:
    # Prepare: five owners whose declared sizes the natural split ignores
    base = tiny_scenario(ParticipantGroup("honest", count=5, data_size=10), rounds=1)
    data = DataSection(
        dataset="drug_reviews", partition="natural", max_length=32, utility_subset=60
    )
    # Execute
    result = run(dataclasses.replace(base, data=data))
    # Assert: all 500 training reviews are held, none of them twice, far from 5 x 10
    sizes = result.participants.groupby("participant")["n_examples"].first()
    assert sizes.sum() == 500
    assert sizes.min() > 10


def test_natural_partition_on_a_task_without_owners_is_one_line() -> None:
    with pytest.raises(ScenarioError, match=r"^data\.partition: natural needs natural owners"):
        DataSection(dataset="bbc_news", partition="natural")


def test_more_owners_than_natural_owners_is_one_line_naming_the_setting() -> None:
    base = tiny_scenario(ParticipantGroup("honest", count=200, data_size=2), rounds=1)
    data = DataSection(dataset="drug_reviews", partition="natural", max_length=16)
    with pytest.raises(ScenarioError, match=r"^data\.partition: natural gives each owner"):
        run(dataclasses.replace(base, data=data))


def test_natural_partition_with_replacement_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"^data\.replace: natural hands out every example"):
        DataSection(dataset="drug_reviews", partition="natural", replace=True)
