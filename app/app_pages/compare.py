"""Compare page: two mechanisms (or access modes) on the same scenario and seed."""

from __future__ import annotations

from typing import Any

import streamlit as st

from agents import Scenario, ScenarioError
from app import charts, compare_charts, privacy_charts, state
from app.runner import HISTORY_KEY, base_tokenizer, check, remember, run_scenario

ss = st.session_state


def show_pair(labels: tuple[str, str] | list[str], results: list[Any], prefix: str) -> None:
    """Two runs side by side on shared y-scales, and their fairness difference."""
    figures = {
        "accuracy": [charts.accuracy(r.rounds) for r in results],
        "profit": [charts.cumulative_profit(r.participants) for r in results],
        "exposed": [privacy_charts.exposed_clients(r.rounds) for r in results],
    }
    for pair_of_figures in figures.values():
        compare_charts.share_y_range(pair_of_figures)
    columns = st.columns(2)
    for index, (column, label, result) in enumerate(zip(columns, labels, results, strict=True)):
        with column:
            st.subheader(label)
            m1, m2, m3, m4 = st.columns(4)
            m1.metric("Final test accuracy", f"{result.summary['final_test_accuracy']:.3f}")
            m2.metric("Total paid (budget units)", f"{result.summary['total_paid']:.1f}")
            m3.metric("Exposed clients", f"{result.summary['exposed_clients_distinct']:.0f}")
            m4.metric("Secure-agg. seconds", f"{result.summary['secagg_seconds']:.2f}")
            for name, pair_of_figures in figures.items():
                st.plotly_chart(pair_of_figures[index], key=f"{prefix}_{name}_{index}")
    table = state.fairness_difference(
        results[0].summary, results[1].summary, labels, charts.FAIRNESS_METRICS
    ).round(3)
    st.subheader("Fairness: difference B - A")
    st.dataframe(table, hide_index=True, key=f"{prefix}_table")
    st.plotly_chart(compare_charts.compare_bars(table, labels), key=f"{prefix}_bars")


scenario = state.current(ss)

st.title("Compare")
st.caption(
    f"Run **{scenario.name}** twice with seed {scenario.seed}, changing only the mechanism or "
    "the access mode (access modes run under secure aggregation), and see what changes."
)

kind = st.radio(
    "Compare",
    list(state.COMPARE_KINDS),
    key="compare_kind",
    horizontal=True,
    format_func=lambda k: {"mechanism": "Mechanisms", "access": "Access modes"}[k],
)
path = state.COMPARE_KINDS[kind]
options = list(state.CHOICES[path])
now = str(scenario.get(path))
first = options.index(now) if now in options else 0
c1, c2 = st.columns(2)
with c1:
    a = st.selectbox("A", options, index=first, key=f"compare_a_{kind}")
with c2:
    b = st.selectbox("B", options, index=(first + 1) % len(options), key=f"compare_b_{kind}")

pair: list[Scenario] = []
for column, value in ((c1, a), (c2, b)):
    try:
        candidate = state.variant(scenario, kind, str(value))
        check(candidate)
        pair.append(candidate)
    except ScenarioError as error:
        column.error(state.one_line(error), icon=":material/error:")
if a == b:
    st.warning("Choose two different values to compare.", icon=":material/warning:")

ready = len(pair) == 2 and a != b
if st.button("Run both", key="compare_run", type="primary", disabled=not ready):
    base_tokenizer()
    try:
        results = [run_scenario(s) for s in pair]
        for one in results:
            remember(ss, one)
    except ValueError as error:
        st.error(state.one_line(error), icon=":material/error:")
        st.stop()
    ss["compare"] = {"kind": kind, "labels": (str(a), str(b)), "results": results}

stored = ss.get("compare")
if stored and [r.scenario for r in stored["results"]] == pair:
    labels = stored["labels"]
    results = stored["results"]
    show_pair(labels, results, "compare")
elif stored:
    st.info("The scenario or the choice changed: press **Run both** again.", icon=":material/info:")

st.divider()
st.subheader("Run history")
history = ss.get(HISTORY_KEY) or {}
if len(history) < 2:
    st.caption("Every run of this session lands here; after two runs, compare any two of them.")
else:
    names = list(history)
    h1, h2 = st.columns(2)
    first_run = h1.selectbox("Run A", names, index=len(names) - 2, key="history_a")
    second_run = h2.selectbox("Run B", names, index=len(names) - 1, key="history_b")
    if first_run == second_run:
        st.warning("Choose two different runs.", icon=":material/warning:")
    else:
        show_pair(("A", "B"), [history[first_run], history[second_run]], "history")
