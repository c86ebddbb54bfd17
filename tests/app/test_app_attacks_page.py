"""Exploitability page: a real (tiny) attack matrix, its heatmap, table and CSV."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from agents.attacks import COLUMNS


def test_attacks_page_before_playing_asks_to_play(app) -> None:
    at = app("attacks")
    assert not at.exception
    assert at.button(key="attacks_run").label.startswith("Play 3 runs")  # 1 mech x (2 + twin)
    assert any("Press **Play**" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_attacks_page_plays_the_matrix(app, errors, charts) -> None:
    # Prepare: one attack on the tiny scenario's mechanism, one seed
    at = app("attacks")
    at.multiselect(key="attacks_attacks").set_value(["free_ride_zero"]).run()
    assert at.button(key="attacks_run").label.startswith("Play 2 runs")

    # Execute
    at.button(key="attacks_run").click().run()

    # Assert
    assert not at.exception
    assert not errors(at)
    table = at.session_state["attack_matrix"]["table"]
    assert list(table.columns) == list(COLUMNS)
    assert list(table["attack"]) == ["free_ride_zero"]
    assert list(table["mechanism"]) == ["shapley_fair"]
    row = table.iloc[0]
    assert row["gain"] == pytest.approx(row["attack_payoff"] - row["honest_payoff"])
    frames = [d.value for d in at.dataframe if "attack" in d.value.columns]
    assert len(frames) == 1 and list(frames[0]["attack"]) == ["free_ride_zero"]
    # the heatmap draws the table's relative gain, centred on 0
    heat = charts(at)["attack_heatmap"]["data"][0]
    assert heat["zmid"] == 0
    z = heat["z"][0][0]
    expected = row["relative_gain"]
    assert (z is None and math.isnan(expected)) or z == pytest.approx(expected)
    assert "over playing honestly" in charts(at)["attack_heatmap"]["layout"]["title"]["text"]
    csv = at.get("download_button")
    assert any(b.proto.label == "exploitability.csv" for b in csv)
    # gain in budget units on the radio: same table, the absolute column drawn
    at.radio(key="attacks_value").set_value("gain").run()
    heat = charts(at)["attack_heatmap"]["data"][0]
    assert heat["z"][0][0] == pytest.approx(row["gain"])
    assert pd.read_csv(io.StringIO(table.to_csv(index=False)))["attack"].tolist() == [
        "free_ride_zero"
    ]
