"""Plotly figures of a run's tables (presentation only: every number is the library's).

Each function takes the tables of :class:`agents.RunResult` (or a sweep frame) and returns a
figure; the pages only place them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

ACCURACY_TITLE = "Accuracy per round"
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


def _label(parts: pd.DataFrame) -> pd.Series:
    """``"3 · free_rider"``: a participant's id and strategy, for legends."""
    return parts["participant"].astype(str) + " · " + parts["strategy"].astype(str)


def accuracy(rounds: pd.DataFrame, title: str = ACCURACY_TITLE) -> go.Figure:
    """Validation and test accuracy per round (round 0 is the initial model)."""
    long = rounds.melt(
        id_vars="round",
        value_vars=["val_accuracy", "test_accuracy"],
        var_name="split",
        value_name="accuracy",
    )
    figure = px.line(long, x="round", y="accuracy", color="split", markers=True, title=title)
    figure.update_xaxes(dtick=1)
    return figure


def stacked_per_participant(parts: pd.DataFrame, column: str, title: str) -> go.Figure:
    """``column`` per participant per round, stacked (negative values stack below zero)."""
    frame = parts.assign(participant_label=_label(parts))
    figure = px.bar(
        frame,
        x="round",
        y=column,
        color="participant_label",
        barmode="relative",
        hover_data=["participant", "group", "strategy"],
        labels={"participant_label": "participant"},
        title=title,
    )
    figure.update_xaxes(dtick=1)
    return figure


def cumulative_profit(parts: pd.DataFrame) -> go.Figure:
    """Cumulative profit (rewards minus costs) per participant, coloured by strategy."""
    figure = px.line(
        parts,
        x="round",
        y="cumulative_profit",
        color="strategy",
        line_group="participant",
        color_discrete_map=STRATEGY_COLORS,
        markers=True,
        hover_data=["participant", "group", "reputation"],
        title="Cumulative profit per participant",
    )
    figure.update_xaxes(dtick=1)
    return figure


def participation(rounds: pd.DataFrame) -> go.Figure:
    """How many participants were available, joined, selected, included... per round."""
    present = [c for c in PARTICIPATION_COLUMNS if c in rounds]
    long = rounds[rounds["round"] > 0].melt(
        id_vars="round", value_vars=present, var_name="stage", value_name="participants"
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
    summary: Mapping[str, float], metrics: Mapping[str, str] = FAIRNESS_METRICS
) -> go.Figure:
    """The run's fairness metrics as bars."""
    frame = pd.DataFrame(
        [
            {"metric": label, "value": summary[key]}
            for key, label in metrics.items()
            if key in summary
        ]
    )
    return px.bar(frame, x="value", y="metric", orientation="h", title="Fairness metrics")


def secagg_bytes(rounds: pd.DataFrame) -> go.Figure:
    """Bytes sent per round: plain updates vs the secure-aggregation protocol."""
    present = [c for c in ("plain_bytes", "secagg_bytes", "scoring_secagg_bytes") if c in rounds]
    long = rounds[rounds["round"] > 0].melt(
        id_vars="round", value_vars=present, var_name="traffic", value_name="bytes"
    )
    figure = px.bar(
        long,
        x="round",
        y="bytes",
        color="traffic",
        barmode="group",
        title="Traffic per round (bytes)",
    )
    figure.update_xaxes(dtick=1)
    return figure


def secagg_seconds(rounds: pd.DataFrame) -> go.Figure:
    """Time per round spent training, scoring, in secure aggregation and elsewhere."""
    present = [
        c
        for c in ("train_seconds", "scoring_seconds", "secagg_seconds", "overhead_seconds")
        if c in rounds
    ]
    long = rounds[rounds["round"] > 0].melt(
        id_vars="round", value_vars=present, var_name="stage", value_name="seconds"
    )
    figure = px.bar(long, x="round", y="seconds", color="stage", title="Time per round (s)")
    figure.update_xaxes(dtick=1)
    return figure


def exposed_clients(rounds: pd.DataFrame) -> go.Figure:
    """Clients whose individual update the scoring releases exposed, per round."""
    frame = rounds[rounds["round"] > 0]
    figure = px.bar(
        frame,
        x="round",
        y="exposed_clients",
        hover_data=["included", "scoring_secagg_runs"],
        title="Exposed clients per round",
    )
    figure.update_xaxes(dtick=1)
    return figure


def network(graph: nx.Graph, parts: pd.DataFrame, seed: int = 0) -> go.Figure:
    """The secure-aggregation neighbour graph; nodes are participants, coloured by strategy.

    ``parts`` are the participant rows of the round the graph belongs to (for the labels).
    """
    positions = nx.spring_layout(graph, seed=seed)
    info = {int(row["participant"]): row for row in parts.to_dict("records")}
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for a, b in graph.edges():
        edge_x += [positions[a][0], positions[b][0], None]
        edge_y += [positions[a][1], positions[b][1], None]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=edge_x,
            y=edge_y,
            mode="lines",
            line={"width": 1, "color": "#999"},
            hoverinfo="skip",
            name="shares keys",
        )
    )
    nodes = pd.DataFrame(
        [
            {
                "node": node,
                "x": positions[node][0],
                "y": positions[node][1],
                "strategy": str(info.get(int(node), {}).get("strategy", "?")),
                "dropped": str(info.get(int(node), {}).get("dropped_stage") or "no"),
                "degree": graph.degree[node],
            }
            for node in graph.nodes()
        ]
    )
    for strategy, frame in nodes.groupby("strategy"):
        figure.add_trace(
            go.Scatter(
                x=frame["x"],
                y=frame["y"],
                mode="markers+text",
                text=frame["node"].astype(str),
                textposition="top center",
                marker={"size": 16, "color": STRATEGY_COLORS.get(str(strategy), "#7f7f7f")},
                name=str(strategy),
                customdata=frame[["degree", "dropped"]].to_numpy(),
                hovertemplate="participant %{text}<br>neighbours %{customdata[0]}"
                "<br>dropped: %{customdata[1]}<extra></extra>",
            )
        )
    figure.update_layout(
        title="Secure-aggregation neighbour graph (last secure round)",
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return figure


def sweep_line(frame: pd.DataFrame, parameter: str, metric: str) -> go.Figure:
    """``metric`` against one swept parameter, one line per seed."""
    data = frame.assign(seed=frame["seed"].astype(str))
    return px.line(
        data,
        x=parameter,
        y=metric,
        color="seed",
        markers=True,
        title=f"{metric} by {parameter}",
    )


def sweep_heatmap(frame: pd.DataFrame, parameters: Sequence[str], metric: str) -> go.Figure:
    """``metric`` over two swept parameters (averaged over seeds by plotly's ``avg``)."""
    x, y = parameters
    data = frame.assign(**{x: frame[x].astype(str), y: frame[y].astype(str)})
    return px.density_heatmap(
        data,
        x=x,
        y=y,
        z=metric,
        histfunc="avg",
        text_auto=".3g",
        title=f"{metric} by {x} and {y} (mean over seeds)",
    )


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
