"""Sweep page: a small real sweep (process backend), a line plot and a heatmap."""

from __future__ import annotations

from agents import columns


def test_sweep_one_parameter_with_worker_processes(app, errors, charts) -> None:
    # Prepare
    at = app("sweep")

    # Execute: two mechanisms, one seed, one worker process
    at.selectbox(key="sweep_param_1").set_value("market.mechanism").run()
    at.text_input(key="sweep_values_1").set_value("shapley_fair, flat").run()
    at.selectbox(key="sweep_backend").set_value("process").run()
    at.number_input(key="sweep_workers").set_value(1).run()
    at.button(key="sweep_run").click().run()

    # Assert
    assert not at.exception
    assert not errors(at)
    frame = at.session_state["sweep"]["frame"]
    assert list(frame["market.mechanism"]) == ["shapley_fair", "flat"]
    assert list(frame["seed"]) == [0, 0]
    assert at.get("progress")
    line = charts(at)["sweep_chart"]
    # words from the data dictionary and the scenario's field description
    assert line["layout"]["title"]["text"] == "final test accuracy by mechanism"
    assert line["layout"]["yaxis"]["title"]["text"] == columns.axis_label("final_test_accuracy")
    assert list(line["data"][0]["y"]) == list(frame["final_test_accuracy"])

    # Execute: another metric
    at.selectbox(key="sweep_metric").set_value("fair_jain").run()

    # Assert
    assert list(charts(at)["sweep_chart"]["data"][0]["y"]) == list(frame["fair_jain"])


def test_sweep_two_parameters_heatmap_and_bad_values(app, errors, charts) -> None:
    # Prepare
    at = app("sweep")
    at.selectbox(key="sweep_param_1").set_value("market.round_budget").run()
    at.selectbox(key="sweep_param_2").set_value("participants.free_rider.count").run()

    # Execute / Assert: a value of the wrong type, then one the library rejects
    at.text_input(key="sweep_values_2").set_value("1, many").run()
    assert not at.exception
    assert errors(at) == ["participants.free_rider.count: 'many' is not a valid int"]
    at.text_input(key="sweep_values_1").set_value("-10, 100").run()
    at.text_input(key="sweep_values_2").set_value("0, 1").run()
    assert not at.exception
    assert errors(at) == ["market.round_budget: must be > 0, got -10.0"]
    assert at.button(key="sweep_run").disabled

    # Execute: a valid 2 x 2 grid, run in this process
    at.text_input(key="sweep_values_1").set_value("50, 100").run()
    at.selectbox(key="sweep_backend").set_value("serial").run()
    at.button(key="sweep_run").click().run()

    # Assert
    assert not at.exception
    assert not errors(at)
    frame = at.session_state["sweep"]["frame"]
    assert len(frame) == 4
    heatmap = charts(at)["sweep_chart"]
    assert heatmap["data"][0]["type"] == "histogram2d"
    assert heatmap["data"][0]["histfunc"] == "avg"
