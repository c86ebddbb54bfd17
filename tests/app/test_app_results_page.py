"""Results page: every chart and download from a real tiny run."""

from __future__ import annotations

import pytest

import agents


def test_results_before_any_run_point_to_the_run_page(app) -> None:
    at = app("results")
    assert not at.exception
    assert at.info and "run a scenario first" in at.info[0].value


def test_results_charts_and_downloads(app, errors, charts) -> None:
    # Prepare: a real run through the Run page
    at = app("run")
    at.button(key="run").click().run()
    result = at.session_state["result"]

    # Execute
    at.switch_page("app_pages/results.py").run()

    # Assert
    assert not at.exception
    assert not errors(at)
    shown = charts(at)
    assert {
        "accuracy",
        "contribution",
        "reward",
        "profit",
        "participation",
        "participation_map",
        "fairness",
        "fairness_lower",
        "secagg_bytes",
        "secagg_seconds",
        "exposed",
        "network",
    } <= set(shown)
    # the contribution bars are stacked per group and carry the library's per-group sums
    assert shown["contribution"]["layout"]["barmode"] == "relative"
    plotted = sorted(y for trace in shown["reward"]["data"] for y in trace["y"] if y is not None)
    sums = result.participants.groupby(["round", "group"])["reward"].sum()
    assert plotted == pytest.approx(sorted(sums))
    assert {t["name"] for t in shown["profit"]["data"]} == set(result.participants["group"])
    # the "why" panel names the mechanism rule that paid
    assert any("Mechanism **shapley_fair**" in m.value for m in at.markdown)
    # the network view draws the neighbour graph the library returned
    nodes = {
        text
        for trace in shown["network"]["data"]
        if trace["mode"] == "markers+text"
        for text in trace["text"]
    }
    assert nodes == {str(n) for n in result.graph.nodes}
    # fairness bars are the summary's metrics
    bars = shown["fairness"]["data"][0]
    fairness = dict(zip(bars["y"], bars["x"], strict=True))
    assert fairness["Jain index of rewards"] == pytest.approx(result.summary["fair_jain"], abs=1e-3)
    lower = shown["fairness_lower"]["data"][0]
    assert "Gini of rewards" in lower["y"] and "Jain index of rewards" not in lower["y"]
    keys = {b.key for b in at.get("download_button")}
    for table in result.tables():
        assert {f"csv_{table}", f"parquet_{table}"} <= keys


def test_results_without_secure_aggregation_has_no_graph(app, errors, charts) -> None:
    # Prepare: secure aggregation off
    at = app("scenario")
    at.toggle(key="secure_aggregation").set_value(False).run()
    plain = at.session_state["scenario"]
    at.session_state["result"] = agents.run(plain)

    # Execute
    at.switch_page("app_pages/results.py").run()

    # Assert
    assert not at.exception
    assert not errors(at)
    assert "network" not in charts(at)
    assert any("No neighbour graph" in i.value for i in at.info)


def _round_map_max(shown: dict) -> int:
    """The last round drawn by the participation map (its x axis)."""
    return max(int(x) for trace in shown["participation_map"]["data"] for x in trace["x"])


def test_round_controls_move_the_scrubber(app, charts) -> None:
    # Prepare: a real 2-round run, on the Results page, scrubbed back to round 1
    at = app("run")
    at.button(key="run").click().run()
    at.switch_page("app_pages/results.py").run()
    assert at.slider(key="results_round").value == 2
    at.button(key="round_prev").click().run()
    assert at.slider(key="results_round").value == 1
    assert _round_map_max(charts(at)) == 1
    at.button(key="round_prev").click().run()  # clamped at the first round
    assert at.slider(key="results_round").value == 1

    # Execute
    at.button(key="round_next").click().run()

    # Assert: the slider moved, and the charts it drives with it
    assert not at.exception
    assert at.slider(key="results_round").value == 2
    assert _round_map_max(charts(at)) == 2
    at.button(key="round_next").click().run()  # clamped at the last round
    assert at.slider(key="results_round").value == 2


def test_play_runs_to_the_last_round_and_stops(app) -> None:
    # Prepare: a real 2-round run, the scrubber at the last round
    at = app("run")
    at.button(key="run").click().run()
    at.switch_page("app_pages/results.py").run()

    # Execute: play (restarts from round 1, advances one round per rerun)
    at.button(key="round_play").click().run()

    # Assert: it reached the last round and stopped (the button says Play again)
    assert not at.exception
    assert at.slider(key="results_round").value == 2
    assert at.session_state["results_playing"] is False
    assert at.button(key="round_play").label == "Play"


def test_a_dp_run_shows_the_epsilon_each_participant_spent(app, errors, charts) -> None:
    # Prepare: differential privacy switched on in the Scenario page, then a real run
    at = app("scenario")
    at.toggle(key="dp_enabled").set_value(True).run()
    at.number_input(key="dp_epsilon").set_value(4.0).run()
    assert not errors(at)
    at.switch_page("app_pages/run.py").run()
    at.button(key="run").click().run()
    result = at.session_state["result"]
    assert result.scenario.privacy.dp.enabled and result.scenario.privacy.dp.epsilon == 4.0

    # Execute
    at.switch_page("app_pages/results.py").run()

    # Assert: the chart plots the library's per-participant epsilon, the caption says it all
    assert not at.exception and not errors(at)
    shown = charts(at)
    plotted = sorted(y for trace in shown["dp_epsilon"]["data"] for y in trace["y"])
    assert plotted == pytest.approx(sorted(result.participants["dp_epsilon"]))
    assert max(plotted) <= 4.0 * 1.01
    lines = [c.value for c in at.caption]
    assert any(line.startswith("differential privacy: epsilon spent") for line in lines)
    assert any("Secure aggregation hides each *update*" in line for line in lines)
