"""Run page: a real tiny run with live progress; the numbers are the library's."""

from __future__ import annotations

import pandas as pd
import pytest

import agents
from agents import ScenarioError, columns


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
    legend = columns.label("test_accuracy", "rounds")  # the data dictionary's words
    test_trace = next(t for t in accuracy["data"] if t["name"] == legend)
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


def test_run_over_seeds_shows_mean_and_interval(app, errors) -> None:
    # Prepare
    at = app("run")
    scenario = at.session_state["scenario"]

    # Execute: two seeds
    at.number_input(key="run_seeds").set_value(2).run()
    at.button(key="run").click().run()

    # Assert: the spread table says how many seeds and holds the library's mean
    assert not at.exception
    assert not errors(at)
    spread = at.session_state["seed_spread"]
    assert spread["seeds"] == (scenario.seed, scenario.seed + 1)
    table = next(d.value for d in at.dataframe if "ci_low" in d.value).set_index("metric")
    row = table.loc["final test accuracy"]
    runs = [agents.run(scenario.replace("seed", s)) for s in spread["seeds"]]
    mean = sum(r.summary["final_test_accuracy"] for r in runs) / 2
    assert row["seeds"] == 2
    assert row["mean"] == pytest.approx(mean, abs=1e-3)
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert any("Over 2 seeds" in h.value for h in at.subheader)
