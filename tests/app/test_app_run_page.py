"""Run page: a real tiny run with live progress; the numbers are the library's."""

from __future__ import annotations

import pandas as pd
import pytest

import agents
from agents import ScenarioError


def test_run_shows_progress_rounds_and_the_accuracy_chart(app, errors, charts) -> None:
    # Prepare
    at = app("run")
    scenario = at.session_state["scenario"]
    assert "result" not in at.session_state

    # Execute
    at.button(key="run").click().run()

    # Assert: progress, the live per-round table, the chart of the library's numbers
    assert not at.exception
    assert not errors(at)
    result = at.session_state["result"]
    assert at.get("progress")
    live = at.dataframe[0].value
    assert list(live["round"]) == list(range(scenario.rounds + 1))
    accuracy = charts(at)["run_accuracy"]
    test_trace = next(t for t in accuracy["data"] if t["name"] == "test_accuracy")
    assert list(test_trace["y"]) == list(result.rounds["test_accuracy"])
    assert [m.label for m in at.metric][:2] == ["Initial test accuracy", "Final test accuracy"]
    assert at.metric[1].value == f"{result.summary['final_test_accuracy']:.3f}"

    # Assert: the app ran the scenario as is (same seed, same numbers)
    direct = agents.run(scenario)
    pd.testing.assert_frame_equal(result.participants, direct.participants)
    timed = [c for c in direct.rounds if c.endswith("_seconds")]
    pd.testing.assert_frame_equal(
        result.rounds.drop(columns=timed), direct.rounds.drop(columns=timed)
    )


def test_second_run_comes_from_the_cache(app) -> None:
    # Prepare
    at = app("run")
    at.button(key="run").click().run()
    first = at.session_state["result"]

    # Execute
    at.button(key="run").click().run(timeout=30)

    # Assert: same tables, the progress replayed from the cache
    assert not at.exception
    again = at.session_state["result"]
    assert again is not first  # st.cache_data hands out copies
    assert again.rounds.equals(first.rounds)
    assert at.get("progress")


def test_an_incompatible_scenario_cannot_reach_the_run_page(app) -> None:
    # Prepare
    at = app("run")
    valid = at.session_state["scenario"]

    # Execute: the library refuses the scenario when it is built, so the session keeps the
    # last valid one and the Run page can always run what it shows
    with pytest.raises(ScenarioError) as error:
        valid.replace("privacy.secure_aggregation", True).replace(
            "privacy.access", "secure_coalitions"
        ).replace("market.scoring", "cgsv")
    at.run()

    # Assert
    assert error.value.path == "market.scoring"
    assert not at.exception
    assert at.session_state["scenario"] == valid
    assert at.button
