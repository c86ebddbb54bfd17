"""Plotly figures that set runs side by side: sweeps, two-run comparisons, the attack matrix.

Presentation only: every number is the library's (sweep frames, ``agents.compare``,
``agents.attacks.attack_matrix``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from agents import columns
from agents.scenario import FIELDS, field_doc


def _names(frame: pd.DataFrame, parameters: Sequence[str], metric: str) -> dict[str, str]:
    """Axis titles: a swept field's label (the scenario's field description), a metric's
    label and unit (the data dictionary)."""
    names = {metric: columns.axis_label(metric, "summary")}
    for path in parameters:
        known = path in FIELDS or path.count(".") == 2 and path.startswith("participants.")
        names[path] = field_doc(path).label if known else path
    return names


def sweep_line(frame: pd.DataFrame, parameter: str, metric: str) -> go.Figure:
    """``metric`` against one swept parameter, one line per seed (bars for names)."""
    data = frame.assign(seed=frame["seed"].astype(str))
    names = _names(frame, [parameter], metric)
    title = f"{columns.label(metric, 'summary')} by {names[parameter]}"
    if frame[parameter].dtype.kind not in "iuf":  # categorical: no order, so no line
        return px.bar(
            data.assign(**{parameter: data[parameter].astype(str)}),
            x=parameter,
            y=metric,
            color="seed",
            barmode="group",
            labels=names,
            title=title,
        )
    return px.line(
        data, x=parameter, y=metric, color="seed", markers=True, labels=names, title=title
    )


def sweep_heatmap(frame: pd.DataFrame, parameters: Sequence[str], metric: str) -> go.Figure:
    """``metric`` over two swept parameters (averaged over seeds by plotly's ``avg``)."""
    x, y = parameters
    data = frame.assign(**{x: frame[x].astype(str), y: frame[y].astype(str)})
    names = _names(frame, parameters, metric)
    figure = px.density_heatmap(
        data,
        x=x,
        y=y,
        z=metric,
        histfunc="avg",
        text_auto=".3g",
        labels=names,
        title=f"{columns.label(metric, 'summary')} by {names[x]} and {names[y]} (mean over seeds)",
    )
    figure.update_xaxes(type="category")  # the swept values, not 0.5-wide bins
    figure.update_yaxes(type="category")
    return figure


def share_y_range(figures: Sequence[go.Figure]) -> None:
    """Give side-by-side figures one y-range (the union of their data), in place."""
    low, high = float("inf"), float("-inf")
    for figure in figures:
        for trace in figure.data:
            y = getattr(trace, "y", None)
            if y is None:
                continue
            numbers = pd.to_numeric(pd.Series(list(y)), errors="coerce").dropna()
            if len(numbers):
                low, high = min(low, float(numbers.min())), max(high, float(numbers.max()))
    if low <= high:
        pad = 0.05 * (high - low or 1.0)
        for figure in figures:
            figure.update_yaxes(range=[low - pad, high + pad])


def compare_bars(table: pd.DataFrame, labels: Sequence[str]) -> go.Figure:
    """Fairness metrics of two runs side by side (``table``: metric, then one column each)."""
    long = table.melt(id_vars="metric", value_vars=list(labels), var_name="run", value_name="value")
    return px.bar(
        long,
        x="value",
        y="metric",
        color="run",
        barmode="group",
        orientation="h",
        title="Fairness metrics side by side",
    )


#: The exploitability heatmap's value columns and their axis labels.
ATTACK_VALUES = {
    "relative_gain": "relative gain over honest play",
    "gain": "gain over honest play (budget units)",
}


def attack_heatmap(table: pd.DataFrame, value: str = "relative_gain") -> go.Figure:
    """Mechanism x attack heatmap of the attacker's payoff gain, diverging around 0."""
    grid = table.pivot(index="mechanism", columns="attack", values=value)
    grid = grid.reindex(index=list(dict.fromkeys(table["mechanism"])))
    grid = grid[list(dict.fromkeys(table["attack"]))]
    values = grid.to_numpy(dtype=float)
    finite = values[pd.notna(values)]
    limit = max(float(abs(finite).max()) if finite.size else 1.0, 0.05 if value != "gain" else 1.0)
    fmt = "{:+.0%}" if value == "relative_gain" else "{:+.2f}"
    text = [["n/a" if pd.isna(v) else fmt.format(v) for v in row] for row in values]
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=list(grid.columns),
            y=list(grid.index),
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu_r",
            zmin=-limit,
            zmax=limit,
            zmid=0.0,
            colorbar={"title": {"text": ATTACK_VALUES.get(value, value)}},
        )
    )
    unit = "relative to |honest payoff|" if value == "relative_gain" else "in budget units"
    figure.update_layout(
        title="Attacker's payoff gain over playing honestly on the same seed and data "
        f"({unit}); red: the attack pays",
        xaxis_title="attack",
        yaxis_title="mechanism",
    )
    return figure
