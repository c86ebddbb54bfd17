"""Compare page: two mechanisms (or access modes) on the same scenario and seed."""

from __future__ import annotations

import streamlit as st

from agents import Scenario, ScenarioError
from app import charts, state
from app.runner import base_tokenizer, check, run_scenario

ss = st.session_state
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
    except ValueError as error:
        st.error(state.one_line(error), icon=":material/error:")
        st.stop()
    ss["compare"] = {"kind": kind, "labels": (str(a), str(b)), "results": results}

stored = ss.get("compare")
if stored and [r.scenario for r in stored["results"]] == pair:
    labels = stored["labels"]
    results = stored["results"]
    columns = st.columns(2)
    for column, label, result in zip(columns, labels, results, strict=True):
        with column:
            st.subheader(label)
            m1, m2, m3 = st.columns(3)
            m1.metric("Final test accuracy", f"{result.summary['final_test_accuracy']:.3f}")
            m2.metric("Total paid", f"{result.summary['total_paid']:.1f}")
            m3.metric("Exposed clients", f"{result.summary['exposed_clients_total']:.0f}")
            st.plotly_chart(charts.accuracy(result.rounds), key=f"compare_accuracy_{label}")
            st.plotly_chart(
                charts.cumulative_profit(result.participants), key=f"compare_profit_{label}"
            )
    table = state.fairness_difference(
        results[0].summary, results[1].summary, labels, charts.FAIRNESS_METRICS
    )
    st.subheader("Fairness: difference B - A")
    st.dataframe(table, hide_index=True)
    st.plotly_chart(charts.compare_bars(table, labels), key="compare_bars")
elif stored:
    st.info("The scenario or the choice changed: press **Run both** again.", icon=":material/info:")
