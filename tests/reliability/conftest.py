"""Shared by the reliability tests: a run crashed and resumed from its checkpoint, the
checkpoint files of a real run, and a valid scenario file to break."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import pytest
import tomli_w

from agents import (
    MarketModel,
    ParticipantGroup,
    RunResult,
    Scenario,
    ScenarioError,
    checkpoint,
    run,
)
from agents.scenario import check_compatible
from tests.agents.conftest import tiny_scenario

CrashAndResume: TypeAlias = Callable[[Scenario, int], RunResult]
"""The `crash_and_resume` fixture: (scenario, crash_after) -> the resumed run's result."""


class Crash(Exception):
    """Raised from ``on_round`` to stop a run as a crash would."""


@pytest.fixture
def crash_and_resume(tmp_path: Path) -> CrashAndResume:
    """Run a scenario until it crashes after round ``crash_after`` (whose checkpoint is
    written by then), then resume it from its checkpoint: the resumed run's result."""

    def resumed(scenario: Scenario, crash_after: int) -> RunResult:
        checkpoints = tmp_path / "ckpt"

        def crash(row: dict[str, Any]) -> None:
            if row["round"] == crash_after:
                raise Crash

        with pytest.raises(Crash):
            run(scenario, checkpoint_dir=checkpoints, on_round=crash)
        return run(scenario, checkpoint_dir=checkpoints, resume=True)

    return resumed


def checkpoint_scenario() -> Scenario:
    """Two rounds of a small reputation market on secure aggregation (its graphs and the
    optimiser moments pass through the checkpoint)."""
    return tiny_scenario(
        ParticipantGroup("honest", count=3, data_size=40),
        ParticipantGroup("rider", count=1, data_size=40, strategy="free_rider"),
        rounds=2,
        mechanism="reputation",
    ).replace("privacy.secure_aggregation", True)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Path]:
    """A real checkpoint after one round of `checkpoint_scenario`."""
    scenario = checkpoint_scenario()
    model = MarketModel(scenario)
    model.step()
    directory = tmp_path_factory.mktemp("saved")
    checkpoint.save(model, directory)
    return scenario, directory


# ----- a valid scenario file, and how a broken one must be refused -----

BASE = tiny_scenario(
    ParticipantGroup("honest", count=2, data_size=40),
    ParticipantGroup("riders", count=1, data_size=40, strategy="free_rider"),
    rounds=1,
).to_dict()
"""A valid scenario as plain TOML data; every case mutates a copy."""

SAYS_WHAT_IS_ALLOWED = re.compile(
    r"must|one of|allowed|give |use |needs|required|0 for|not valid TOML|not UTF-8|not found"
    r"|limit|lower "
)


def load(text: str) -> Scenario:
    """What ``fedmarket run`` does with a file before any training starts."""
    scenario = Scenario.from_toml_string(text)
    check_compatible(scenario)
    return scenario


def assert_refused(raw: dict[str, Any] | str, field: str) -> str:
    """The scenario is refused with one line that starts with ``field`` and says what to do."""
    text = raw if isinstance(raw, str) else tomli_w.dumps(raw)
    with pytest.raises(ScenarioError) as info:
        load(text)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "\n" not in message, message
    assert message.startswith(f"{field}: "), (field, message)
    assert SAYS_WHAT_IS_ALLOWED.search(message), message
    return message


def set_field(
    raw: dict[str, Any], section: str, key: str, value: Any
) -> tuple[dict[str, Any], str]:
    """Put ``value`` at ``section.key`` (a participant field goes to the first group)."""
    raw = copy.deepcopy(raw)
    if section == "":
        raw[key] = value
        return raw, key
    if section == "participants":
        raw["participants"]["honest"][key] = value
        return raw, f"participants.honest.{key}"
    table = raw
    for part in section.split("."):  # a table inside a section: privacy.dp
        table = table[part]
    table[key] = value
    return raw, f"{section}.{key}"
