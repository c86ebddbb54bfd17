"""Plotly figures of a run's tables (presentation only: every number is the library's).

Each function takes the tables of :class:`agents.RunResult` (or a sweep frame) and returns a
figure; the pages only place them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

ACCURACY_TITLE = "Accuracy per round"
#: Fairness metrics where a higher value is better, with one-line definitions.
HIGHER_IS_BETTER: dict[str, tuple[str, str]] = {
    "fair_pearson": ("Pearson(reward, contribution)", "rewards follow contributions linearly"),
    "fair_spearman": ("Spearman(reward, contribution)", "rewards rank like contributions"),
    "fair_jain": ("Jain index of rewards", "1: everyone paid equally; 1/n: one takes all"),
    "fair_budget_balance": ("Budget balance", "share of the budget paid out"),
}
#: Fairness metrics where a lower value is better, with one-line definitions.
LOWER_IS_BETTER: dict[str, tuple[str, str]] = {
    "fair_gini": ("Gini of rewards", "0: equal rewards; 1: one participant takes all"),
    "fair_free_rider_share": ("Free-rider share of budget", "budget paid to free riders"),
    "fair_ir_violations": ("IR violations", "share of participants paid below their cost"),
    "ir_violation_rate": ("IR violation rate", "share of joined rounds paid below cost"),
}
#: The fairness metrics the Results and Compare pages show (``RunResult.summary`` keys).
FAIRNESS_METRICS: dict[str, str] = {
    "fair_pearson": "Pearson(reward, contribution)",
    "fair_spearman": "Spearman(reward, contribution)",
    "fair_jain": "Jain index of rewards",
    "fair_gini": "Gini of rewards",
    "fair_free_rider_share": "Free-rider share of budget",
    "fair_ir_violations": "IR violations (share of participants)",
    "ir_violation_rate": "IR violation rate (per joined round)",
    "fair_budget_balance": "Budget balance",
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


#: Plain axis titles for the tables' columns.
LABELS: dict[str, str] = {
    "round": "round",
    "val_accuracy": "validation accuracy",
    "test_accuracy": "test accuracy",
    "contribution": "contribution (utility gain)",
    "reward": "reward (budget units)",
    "cost": "cost (budget units)",
    "cumulative_profit": "cumulative profit (budget units)",
    "group": "participant group",
    "participants": "participants",
    "exposed_clients": "exposed clients",
}


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
    long["split"] = long["split"].map({"val_accuracy": "validation", "test_accuracy": "test"})
    figure = px.line(long, x="round", y="accuracy", color="split", markers=True, title=title)
    figure.update_xaxes(dtick=1)
    return figure


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
        labels={"value": LABELS.get(column, column), "group": LABELS["group"]},
        title=title,
    )
    figure.update_xaxes(dtick=1)
    return figure


def stacked_per_participant(parts: pd.DataFrame, column: str, title: str) -> go.Figure:
    """Kept for callers: the same chart by participant group (:func:`per_group`)."""
    return per_group(parts, column, title)


def cumulative_profit(parts: pd.DataFrame) -> go.Figure:
    """Mean cumulative profit of a group's identities per round (rewards minus costs)."""
    frame = parts.groupby(["round", "group"], sort=False, as_index=False).agg(
        cumulative_profit=("cumulative_profit", "mean"), strategy=("strategy", "first")
    )
    figure = px.line(
        frame,
        x="round",
        y="cumulative_profit",
        color="group",
        markers=True,
        hover_data=["strategy"],
        labels={
            "cumulative_profit": "cumulative profit per identity (budget units)",
            "group": LABELS["group"],
        },
        title="Cumulative profit per participant, by group",
    )
    figure.update_xaxes(dtick=1)
    return figure


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
    figure = px.line(
        long,
        x="round",
        y="participants",
        color="stage",
        markers=True,
        title="Participation over time",
    )
    figure.update_xaxes(dtick=1)
    return figure


def status(row: Mapping[str, Any]) -> str:
    """A participant's furthest stage in a round (a label, for colouring)."""
    if row.get("excluded"):
        return "excluded"
    if row.get("included"):
        return "included"
    if row.get("rejected_reason"):
        return "rejected"
    if row.get("straggler"):
        return "straggler"
    if row.get("dropped_stage"):
        return "dropped"
    if row.get("joined"):
        return "joined"
    if row.get("available"):
        return "available"
    return "away"


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
        labels={"participant_label": "participant"},
        title="Who took part",
    )
    figure.update_traces(marker={"size": 14})
    figure.update_xaxes(dtick=1)
    return figure


def fairness(
    summary: Mapping[str, float],
    metrics: Mapping[str, tuple[str, str]] = HIGHER_IS_BETTER,
    title: str = "Higher is better",
) -> go.Figure:
    """One group of fairness metrics as bars (hover: the definition)."""
    frame = pd.DataFrame(
        [
            {"metric": label, "value": round(float(summary[key]), 3), "definition": text}
            for key, (label, text) in metrics.items()
            if key in summary
        ]
    )
    figure = px.bar(
        frame, x="value", y="metric", orientation="h", hover_data=["definition"], title=title
    )
    figure.update_layout(height=260)
    return figure


def fairness_table(summary: Mapping[str, float]) -> pd.DataFrame:
    """Every fairness metric: value (rounded), which way is better, and its definition."""
    rows = []
    for better, metrics in (("higher", HIGHER_IS_BETTER), ("lower", LOWER_IS_BETTER)):
        for key, (label, text) in metrics.items():
            if key in summary:
                rows.append(
                    {
                        "metric": label,
                        "value": round(float(summary[key]), 3),
                        "better": better,
                        "definition": text,
                    }
                )
    return pd.DataFrame(rows)
