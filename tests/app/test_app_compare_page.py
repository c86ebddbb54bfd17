"""Compare page: two mechanisms, then two access modes, on the same scenario and seed."""

from __future__ import annotations

import pytest


def _compare(app, kind: str, a: str, b: str):
    """The Compare page after running ``kind`` = ``a`` against ``kind`` = ``b``."""
    at = app("compare")
    at.radio(key="compare_kind").set_value(kind).run()
    at.selectbox(key=f"compare_a_{kind}").set_value(a).run()
    at.selectbox(key=f"compare_b_{kind}").set_value(b).run()
    at.button(key="compare_run").click().run()
    return at


def test_compare_two_mechanisms(app, errors, charts) -> None:
    # Prepare / Execute
    at = _compare(app, "mechanism", "shapley_fair", "flat")

    # Assert
    assert not at.exception
    assert not errors(at)
    a, b = at.session_state["compare"]["results"]
    assert (a.scenario.market.mechanism, b.scenario.market.mechanism) == ("shapley_fair", "flat")
    assert a.scenario.replace("market.mechanism", "flat") == b.scenario  # only that differs
    table = next(d.value for d in at.dataframe if "B - A" in d.value).set_index("metric")
    jain = table.loc["Jain index of rewards"]
    assert jain["shapley_fair"] == pytest.approx(a.summary["fair_jain"], abs=1e-3)
    assert jain["flat"] == pytest.approx(b.summary["fair_jain"], abs=1e-3)
    diff = b.summary["fair_jain"] - a.summary["fair_jain"]
    assert jain["B - A"] == pytest.approx(diff, abs=2e-3)
    shown = charts(at)
    assert {"compare_bars", "compare_accuracy_0", "compare_accuracy_1"} <= set(shown)
    # side by side on one y-scale
    ranges = [shown[f"compare_profit_{i}"]["layout"]["yaxis"]["range"] for i in (0, 1)]
    assert ranges[0] == ranges[1]
    # both runs are in the session's history, ready to be compared again
    assert len(at.session_state["history"]) == 2
    assert {"history_accuracy_0", "history_accuracy_1"} <= set(shown)


def test_compare_two_access_modes(app, errors) -> None:
    # Prepare / Execute
    at = _compare(app, "access", "secure_coalitions", "trusted_evaluator")

    # Assert: secure_coalitions exposes clients through its releases, trusted_evaluator none
    assert not at.exception
    assert not errors(at)
    a, b = at.session_state["compare"]["results"]
    assert a.scenario.privacy.access == "secure_coalitions"
    assert b.scenario.privacy.access == "trusted_evaluator"
    assert b.summary["exposed_clients_total"] == 0


def test_same_choice_twice_cannot_run(app) -> None:
    at = app("compare")
    at.selectbox(key="compare_a_mechanism").set_value("flat").run()
    at.selectbox(key="compare_b_mechanism").set_value("flat").run()
    assert not at.exception
    assert at.warning
    assert at.button(key="compare_run").disabled
