"""Hostile input, in process: each check of the scenario loader, and that each assertion
catches its absence.

Issue 27, part 5 (M3); the real command line is in ``test_hostile_inputs.py``. The nesting,
size, text and memory-budget checks each refuse a hostile scenario with one line naming the
field; each is also monkeypatched away (a broken variant) to show that the assertion would
catch its absence.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

import agents.scenario.core as core
import agents.scenario.fields as fields
from agents import cli
from agents.scenario import ParticipantGroup, Scenario, ScenarioError, limits

ROOT = Path(__file__).resolve().parents[2]
DEEP = 50_000
ESCAPE = "\x1b"


def test_nesting_is_checked_before_the_recursive_parser() -> None:
    text = "name = " + "[" * DEEP + "]" * DEEP
    with pytest.raises(ScenarioError, match="nested more than 32 brackets") as info:
        Scenario.from_toml_string(text)
    assert "\n" not in str(info.value)
    # brackets inside strings and comments are not nesting
    scenario = Scenario.from_toml_string(
        'name = "' + "[" * 100 + '"\n# ' + "{" * 100 + "\n[model]\nbackbone = 'tiny'\n"
    )
    assert scenario.name == "[" * 100
    # broken variant: without the pre-check the parser itself recurses past the limit
    with pytest.raises(RecursionError):
        tomllib.loads(text)


def test_without_the_nesting_pre_check_the_safety_net_still_gives_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fields, "check_toml_text", lambda *args, **kwargs: None)
    with pytest.raises(ScenarioError, match="nested too deeply") as info:
        Scenario.from_toml_string("name = " + "[" * DEEP + "]" * DEEP)
    assert "\n" not in str(info.value)


def test_file_size_is_capped_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.toml"
    path.write_text(f'name = "{"x" * 2_000_000}"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="1,954 KiB, over the limit of 256 KiB"):
        Scenario.from_toml(path)
    # broken variant: without the size cap the name is read in full (and only then refused)
    monkeypatch.setattr(fields, "MAX_FILE_BYTES", 1 << 30)
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 1 << 30)
    with pytest.raises(ScenarioError, match="name: 2,000,000 characters exceed"):
        Scenario.from_toml(path)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"name": "x" * 201}, "name"),
        ({"name": f"{ESCAPE}[2J"}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"name": "c1\x9bhere"}, "name"),
        ({"name": "evil\u202etxt.exe"}, "name"),  # a bidi override reorders the terminal
        ({"name": "zero\u200bwidth"}, "name"),
        ({"name": "line\u2028separator"}, "name"),
        ({"name": "lone\ud800surrogate"}, "name"),  # could not even be written as UTF-8
    ],
)
def test_names_are_bounded_and_printable(change: dict[str, str], path: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario(**change)  # type: ignore[arg-type]  # a str field
    assert info.value.path == path and "\n" not in str(info.value)
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in str(info.value))


def test_every_string_of_a_file_is_checked() -> None:
    text = '[data]\ntext_column = "a\\u001bb"\n'
    with pytest.raises(ScenarioError, match="holds a control character") as info:
        Scenario.from_toml_string(text)
    assert info.value.path == "data.text_column"
    with pytest.raises(ScenarioError, match="characters exceed the limit of 4,096"):
        Scenario.from_toml_string(f'[market]\nscoring = "{"x" * 5000}"\n')
    with pytest.raises(ScenarioError, match="'kkkk.*: 5,000 characters exceed"):
        Scenario.from_toml_string(f'"{"k" * 5000}" = 1\n')
    with pytest.raises(ScenarioError, match="participants"):
        Scenario(participants=(ParticipantGroup("g" * 201),))


def test_a_control_character_in_the_name_passes_without_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "check_text", lambda *args, **kwargs: None)
    assert Scenario(name=f"{ESCAPE}[31mred").name.startswith(ESCAPE)


def test_cli_error_printer_escapes_control_characters(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    message = f"scenario: {ESCAPE}[31m{ESCAPE}]0;title\x07 not found\nsecond line"
    with pytest.raises(typer.Exit):
        cli.fail(message)
    printed = capsys.readouterr().err
    assert printed.count("\n") == 1 and ESCAPE not in printed and "\x07" not in printed
    assert "\\x1b[31m" in printed  # shown, escaped
    # broken variant: without the sanitiser the escape reaches the terminal
    monkeypatch.setattr(limits, "printable_line", lambda text, limit=0: text)
    with pytest.raises(typer.Exit):
        cli.fail(message)
    assert ESCAPE in capsys.readouterr().err


def test_cli_error_printer_cuts_a_huge_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        cli.fail("x: " + "y" * 1_000_000 + " the fix")
    printed = capsys.readouterr().err
    assert len(printed) < 2100 and printed.rstrip().endswith("the fix")


# ----- the budget -----


def _crowd(groups: int, count: int, data_size: int, rounds: int = 1) -> Scenario:
    """A large market on SecAgg+ (12 neighbours), as ``bench/scale.py`` runs it."""
    return Scenario(
        rounds=rounds,
        privacy=core.PrivacySection(neighbors=12),
        participants=tuple(
            ParticipantGroup(f"g{i}", count=count, data_size=data_size) for i in range(groups)
        ),
    )


def test_the_budget_admits_every_shipped_example_and_the_scale_benchmark() -> None:
    from agents.scenario import list_examples, load_example

    for name in list_examples():
        assert limits.estimate_memory(load_example(name)).total < limits.memory_limit()
    with pytest.MonkeyPatch.context() as patch:  # bench.scale: 10,000 x 5, 100,000 x 3 (README)
        patch.syspath_prepend(str(ROOT))
        from bench.scale import scenario_for
    for n, rounds in ((10_000, 5), (100_000, 3)):
        estimate = limits.estimate_memory(scenario_for(n, rounds, "tmc"))
        assert estimate.identities == n and estimate.total < 4 << 30


@pytest.mark.parametrize(
    ("build", "path", "says"),
    [
        (lambda: _crowd(20, 10_000, 10), "participants", "200,000 identities exceeds"),
        (lambda: _crowd(10, 10_000, 100_000), "participants", "training examples, over"),
        (lambda: _crowd(2, 10_000, 10, rounds=10_000), "rounds", "table rows dominate"),
        (
            lambda: Scenario(
                market=core.MarketSection(scoring="tmc", scoring_budget=10**12),
                participants=(ParticipantGroup("g", count=5_000, data_size=10),),
            ),
            "market.scoring_budget",
            "coalitions",
        ),
    ],
)
def test_over_the_budget_is_one_line_naming_the_field(
    build: Callable[[], Scenario], path: str, says: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        build()
    assert time.perf_counter() - started < 1.0  # nothing is allocated for the crowd
    assert info.value.path == path and says in str(info.value)
    assert "\n" not in str(info.value) and (" lower " in str(info.value))


def test_without_the_budget_check_the_crowd_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    # broken variant: the check is what refuses 10 x 10,000 x 100,000 (1e10 examples)
    monkeypatch.setattr(core, "check_budget", lambda scenario: None)
    assert _crowd(10, 10_000, 100_000).n_identities == 100_000


def test_the_memory_limit_can_be_raised_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ScenarioError, match="rounds"):
        _crowd(2, 10_000, 10, rounds=10_000)
    monkeypatch.setenv(limits.MEMORY_ENV, "500")
    assert _crowd(2, 10_000, 10, rounds=10_000).rounds == 10_000
    monkeypatch.setenv(limits.MEMORY_ENV, f"{ESCAPE}[31m")
    with pytest.raises(ScenarioError, match=limits.MEMORY_ENV) as info:
        _crowd(1, 10, 10)
    assert ESCAPE not in str(info.value)


def test_an_overflowing_memory_limit_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.MEMORY_ENV, "1e308")  # finite, but not as a byte count
    with pytest.raises(ScenarioError, match=limits.MEMORY_ENV):
        _crowd(1, 10, 10)


def test_complete_graph_secure_aggregation_counts_every_pair() -> None:
    """SecAgg over the complete graph keeps a key and a share per pair: 5,000 identities
    would need about 24 GiB a round; SecAgg+ with 12 neighbours is within the budget."""
    crowd = _crowd(1, 5_000, 10)
    assert limits.estimate_memory(crowd).terms["secagg"] == 0
    with pytest.raises(ScenarioError, match="complete-graph secure aggregation") as info:
        crowd.replace("privacy.neighbors", 0)
    assert info.value.path == "privacy.neighbors" and "privacy.neighbors = 12" in str(info.value)


def test_compile_checks_the_budget_in_force_now(monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.compile import compile_scenario

    scenario = _crowd(1, 5_000, 10, rounds=100)
    monkeypatch.setenv(limits.MEMORY_ENV, "0.5")
    with pytest.raises(ScenarioError, match="estimated peak memory"):
        compile_scenario(scenario)
