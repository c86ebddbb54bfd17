"""Sweep page: vary one or two fields of the current scenario, see a metric over the grid."""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from agents import ScenarioError, columns
from app import compare_charts, state, sweep_state
from app.runner import SWEEP_BACKENDS, base_tokenizer, download, run_sweep, sweep_size

ss = st.session_state
base = state.current(ss)
NONE = "(none)"

st.title("Sweep")
st.caption(
    f"Vary one or two fields of **{base.name}**: every combination runs for every seed, and a "
    "chosen metric is plotted over the grid. Keep sweeps small: each run is a whole simulation."
)


def reset_values(index: int) -> None:
    ss.pop(f"sweep_values_{index}", None)


def values_box(index: int, path: str) -> list[Any] | None:
    """The values box for ``path``; parsed values, or ``None`` after showing the error."""
    text = st.text_input(
        "Values (comma-separated)",
        value=sweep_state.default_values_text(base, path),
        key=f"sweep_values_{index}",
        help=sweep_state.values_help(path),
    )
    try:
        return sweep_state.parse_values(base, path, text)
    except ScenarioError as error:
        st.error(state.one_line(error), icon=":material/error:")
        return None


fields = sweep_state.sweep_fields(base)
grid: dict[str, list[Any]] = {}
ok = True
c1, c2 = st.columns(2)
with c1:
    first = st.selectbox(
        "Parameter 1", fields, key="sweep_param_1", on_change=reset_values, args=(1,)
    )
    values = values_box(1, str(first))
    ok &= values is not None
    if values is not None:
        grid[str(first)] = values
    slot_1 = st.empty()
with c2:
    second = st.selectbox(
        "Parameter 2 (optional)",
        [NONE, *fields],
        key="sweep_param_2",
        on_change=reset_values,
        args=(2,),
    )
    slot_2 = slot_1
    if second != NONE:
        if second == first:
            st.error(f"{second}: already parameter 1; choose another one", icon=":material/error:")
            ok = False
        else:
            values = values_box(2, str(second))
            ok &= values is not None
            if values is not None:
                grid[str(second)] = values
            slot_2 = st.empty()

c1, c2, c3 = st.columns(3)
with c1:
    seeds_text = st.text_input("Seeds", "0", key="sweep_seeds", help="e.g. 0, 1, 2")
    try:
        seeds = sweep_state.parse_seeds(seeds_text)
    except ScenarioError as error:
        st.error(state.one_line(error), icon=":material/error:")
        ok, seeds = False, []
with c2:
    backend = st.selectbox(
        "Backend",
        SWEEP_BACKENDS,
        key="sweep_backend",
        help="auto: serial up to 8 runs (worker start-up costs more than it saves), else "
        "process; serial: one after another here; process: parallel worker processes.",
    )
with c3:
    cpus = os.cpu_count() or 1
    workers = st.number_input(
        "Workers",
        min_value=1,
        max_value=cpus,
        value=min(2, cpus),
        step=1,
        key="sweep_workers",
        disabled=backend == "serial",
    )

size = 0
if ok:
    try:
        size = sweep_size(base, grid, seeds)
    except ScenarioError as error:
        where = state.field_of(error)
        slot = slot_2 if where == second else slot_1
        slot.error(state.one_line(error), icon=":material/error:")
        ok = False
if ok:
    st.caption(f"{size} runs.")

if st.button("Run sweep", key="sweep_run", type="primary", disabled=not ok):
    base_tokenizer()
    try:
        frame = run_sweep(
            base, sweep_state.grid_key(grid), tuple(seeds), str(backend), int(workers)
        )
    except ValueError as error:
        st.error(state.one_line(error), icon=":material/error:")
        st.stop()
    ss["sweep"] = {"parameters": list(grid), "frame": frame, "base": base}

stored = ss.get("sweep")
if stored:
    frame, parameters = stored["frame"], stored["parameters"]
    if stored["base"] != base:
        st.info("These results are for an earlier version of the scenario.", icon=":material/info:")
    metrics = [
        c for c in frame.columns if c not in (*parameters, "seed") and frame[c].dtype.kind in "fiub"
    ]
    default = metrics.index("final_test_accuracy") if "final_test_accuracy" in metrics else 0
    metric = st.selectbox(
        "Metric",
        metrics,
        index=default,
        key="sweep_metric",
        format_func=lambda key: columns.axis_label(key, "summary"),
    )
    if len(parameters) == 1:
        figure = compare_charts.sweep_line(frame, parameters[0], str(metric))
    else:
        figure = compare_charts.sweep_heatmap(frame, parameters, str(metric))
    st.plotly_chart(figure, key="sweep_chart")
    st.dataframe(frame.round(4), hide_index=True)
    download(st, "sweep.csv", frame.to_csv(index=False), f"{base.name}_sweep.csv", key="sweep_csv")
