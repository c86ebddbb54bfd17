"""Plotly figures of a run's tables (presentation only: every number is the library's).

Each function takes the tables of :class:`agents.RunResult` (or a sweep frame) and returns a
figure; the pages only place them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from agents import columns

ACCURACY_TITLE = "Accuracy per round"
#: Fairness metrics (``RunResult.summary`` keys) where a higher value is better; their labels
#: and definitions come from the data dictionary (:mod:`agents.columns`).
HIGHER_IS_BETTER = ("fair_pearson", "fair_spearman", "fair_jain", "fair_budget_balance")
#: Fairness metrics where a lower value is better.
LOWER_IS_BETTER = ("fair_gini", "fair_free_rider_share", "fair_ir_violations", "ir_violation_rate")
#: The fairness metrics the Results and Compare pages show, with their labels.
FAIRNESS_METRICS: dict[str, str] = {
    key: columns.label(key, "summary") for key in (*HIGHER_IS_BETTER, *LOWER_IS_BETTER)
}
#: One colour per strategy, the same in every chart.
STRATEGY_COLORS: dict[str, str] = {
    "honest": "#1f77b4",
    "free_rider": "#d62728",
    "noisy": "#ff7f0e",
    "poisoner": "#9467bd",
    "sybil": "#8c564b",
}
PARTICIPATION_COLUMNS = (
    "available",
    "joined",
    "selected",
    "included",
    "stragglers",
    "rejected",
    "dropouts",
)
#: The furthest stage a participant reached in a round, latest first, by the column that says so.
STAGES = (
    ("excluded", "excluded"),
    ("included", "included"),
    ("rejected_reason", "rejected"),
    ("straggler", "straggler"),
    ("dropped_stage", "dropped"),
    ("joined", "joined"),
    ("available", "available"),
)


def per_round(figure: go.Figure) -> go.Figure:
    """One tick per round on the x axis (rounds are whole numbers)."""
    figure.update_xaxes(dtick=1, title=columns.axis_label("round"))
    return figure


def lines(frame: pd.DataFrame, y: str, color: str, title: str, **options: Any) -> go.Figure:
    """``y`` against the round, one line with markers per value of ``color``."""
    return per_round(
        px.line(frame, x="round", y=y, color=color, markers=True, title=title, **options)
    )


def by_round(rounds: pd.DataFrame, names: Sequence[str], legend: str, value: str) -> pd.DataFrame:
    """The ``rounds`` columns ``names`` (those present) after round 0, long: ``round``,
    ``legend`` (each column's label from the data dictionary) and ``value``."""
    present = [c for c in names if c in rounds]
    long = rounds[rounds["round"] > 0].melt(
        id_vars="round", value_vars=present, var_name=legend, value_name=value
    )
    long[legend] = long[legend].map(lambda c: columns.label(c, "rounds"))
    return long


def _label(parts: pd.DataFrame) -> pd.Series:
    """``"3 · free_riders"``: a participant's id and group, for legends."""
    return parts["participant"].astype(str) + " · " + parts["group"].astype(str)


def accuracy(rounds: pd.DataFrame, title: str = ACCURACY_TITLE) -> go.Figure:
    """Validation and test accuracy per round (round 0 is the initial model)."""
    long = rounds.melt(
        id_vars="round",
        value_vars=["val_accuracy", "test_accuracy"],
        var_name="split",
        value_name="accuracy",
    )
    long["split"] = long["split"].map(lambda c: columns.label(c, "rounds"))
    unit = columns.unit("test_accuracy", "rounds")
    return lines(long, "accuracy", "split", title, labels={"accuracy": f"accuracy ({unit})"})


def per_group(parts: pd.DataFrame, column: str, title: str) -> go.Figure:
    """``column`` summed per participant group per round, stacked (negatives below zero)."""
    frame = parts.groupby(["round", "group"], sort=False, as_index=False).agg(
        value=(column, "sum"), strategy=("strategy", "first"), identities=("participant", "nunique")
    )
    figure = px.bar(
        frame,
        x="round",
        y="value",
        color="group",
        barmode="relative",
        hover_data=["strategy", "identities"],
        labels={
            "value": columns.axis_label(column, "participants"),
            "group": columns.label("group", "participants"),
        },
        title=title,
    )
    return per_round(figure)


def cumulative_profit(parts: pd.DataFrame) -> go.Figure:
    """Mean cumulative profit of a group's identities per round (rewards minus costs)."""
    frame = parts.groupby(["round", "group"], sort=False, as_index=False).agg(
        cumulative_profit=("cumulative_profit", "mean"), strategy=("strategy", "first")
    )
    labels = {
        "cumulative_profit": "mean " + columns.axis_label("cumulative_profit"),
        "group": columns.label("group", "participants"),
    }
    title = "Cumulative profit per participant, by group"
    return lines(frame, "cumulative_profit", "group", title, hover_data=["strategy"], labels=labels)


def participation(rounds: pd.DataFrame) -> go.Figure:
    """How many participants were available, joined, selected, included... per round."""
    frame = rounds[rounds["round"] > 0]
    merged: dict[str, pd.Series] = {}  # identical series share one line: "available = joined"
    for column in (c for c in PARTICIPATION_COLUMNS if c in frame):
        same = next((k for k, v in merged.items() if v.equals(frame[column])), None)
        if same is None:
            merged[column] = frame[column]
        else:
            merged[f"{same} = {column}"] = merged.pop(same)
    wide = pd.DataFrame({"round": frame["round"], **merged})
    long = wide.melt(
        id_vars="round", value_vars=list(merged), var_name="stage", value_name="participants"
    )
    labels = {"participants": columns.unit("joined", "rounds")}
    return lines(long, "participants", "stage", "Participation over time", labels=labels)


def status(row: Mapping[str, Any]) -> str:
    """A participant's furthest stage in a round (a label, for colouring)."""
    return next((stage for column, stage in STAGES if row.get(column)), "away")


def participation_map(parts: pd.DataFrame) -> go.Figure:
    """Each participant's stage in each round, as coloured squares."""
    frame = parts.assign(
        stage=[status(row) for row in parts.to_dict("records")],
        participant_label=_label(parts),
    )
    figure = px.scatter(
        frame,
        x="round",
        y="participant_label",
        color="stage",
        symbol_sequence=["square"],
        hover_data=["group", "samples", "reward"],
        labels={"participant_label": columns.label("participant", "participants")},
        title="Who took part",
    )
    figure.update_traces(marker={"size": 14})
    return per_round(figure)


def _fairness_rows(summary: Mapping[str, float], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per metric of ``keys`` in ``summary``: its label, value and definition."""
    described = [(key, columns.lookup(key, "summary")) for key in keys if key in summary]
    return [
        {
            "metric": column.label if column else key,
            "value": round(float(summary[key]), 3),
            "unit": column.unit if column else "",
            "definition": column.definition if column else "",
        }
        for key, column in described
    ]


def fairness(
    summary: Mapping[str, float],
    metrics: Sequence[str] = HIGHER_IS_BETTER,
    title: str = "Higher is better",
) -> go.Figure:
    """One group of fairness metrics as bars (hover: the unit and definition)."""
    frame = pd.DataFrame(_fairness_rows(summary, metrics))
    figure = px.bar(
        frame,
        x="value",
        y="metric",
        orientation="h",
        hover_data=["unit", "definition"],
        title=title,
    )
    figure.update_layout(height=260)
    return figure


def fairness_table(summary: Mapping[str, float]) -> pd.DataFrame:
    """Every fairness metric: value (rounded), unit, which way is better, and its definition."""
    rows = [
        {**row, "better": better}
        for better, metrics in (("higher", HIGHER_IS_BETTER), ("lower", LOWER_IS_BETTER))
        for row in _fairness_rows(summary, metrics)
    ]
    return pd.DataFrame(rows, columns=["metric", "value", "unit", "better", "definition"])
