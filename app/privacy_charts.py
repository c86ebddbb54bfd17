"""Plotly figures of a run's secure-aggregation columns: traffic, time, exposure, the graph.

Presentation only: every number is the library's (``RunResult.rounds``, ``RunResult.graphs``).
"""

from __future__ import annotations

import networkx as nx
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from agents import columns
from app.charts import by_round, per_round

BYTES = columns.unit("secagg_bytes", "rounds")
SECONDS = columns.unit("secagg_seconds", "rounds")


def secagg_bytes(rounds: pd.DataFrame) -> go.Figure:
    """Bytes sent per round: plain updates vs the secure-aggregation protocol."""
    long = by_round(
        rounds, ("plain_bytes", "secagg_bytes", "scoring_secagg_bytes"), "traffic", BYTES
    )
    figure = px.bar(
        long, x="round", y=BYTES, color="traffic", barmode="group", title="Traffic per round"
    )
    return per_round(figure)


def secagg_seconds(rounds: pd.DataFrame) -> go.Figure:
    """Time per round spent training, scoring, in secure aggregation and elsewhere."""
    stages = ("train_seconds", "scoring_seconds", "secagg_seconds", "overhead_seconds")
    long = by_round(rounds, stages, "stage", SECONDS)
    figure = px.bar(long, x="round", y=SECONDS, color="stage", title="Time per round")
    return per_round(figure)


def epsilon_spent(participants: pd.DataFrame) -> go.Figure:
    """Each identity's epsilon spent so far, by round (privacy.dp)."""
    unit = columns.unit("dp_epsilon", "participants")
    frame = participants.rename(columns={"dp_epsilon": unit})
    figure = px.line(
        frame,
        x="round",
        y=unit,
        color=frame["participant"].astype(str),
        line_group="participant",
        title="Epsilon spent per participant",
        labels={"color": "participant"},
    )
    return per_round(figure)


def exposed_clients(rounds: pd.DataFrame) -> go.Figure:
    """Clients whose individual update the scoring releases exposed, per round."""
    shown = ("exposed_clients", "included", "scoring_secagg_runs")
    figure = px.bar(
        rounds[rounds["round"] > 0],
        x="round",
        y="exposed_clients",
        hover_data=["included", "scoring_secagg_runs"],
        labels={c: columns.axis_label(c, "rounds") for c in shown},
        title="Exposed clients per round",
    )
    return per_round(figure)


def network(graph: nx.Graph, parts: pd.DataFrame, seed: int = 0) -> go.Figure:
    """The secure-aggregation neighbour graph; nodes are participants, coloured by group.

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
                "group": str(info.get(int(node), {}).get("group", "?")),
                "dropped": str(info.get(int(node), {}).get("dropped_stage") or "no"),
                "degree": graph.degree[node],
            }
            for node in graph.nodes()
        ]
    )
    palette = px.colors.qualitative.Plotly
    for position, (group, frame) in enumerate(nodes.groupby("group")):
        figure.add_trace(
            go.Scatter(
                x=frame["x"],
                y=frame["y"],
                mode="markers+text",
                text=frame["node"].astype(str),
                textposition="top center",
                marker={"size": 16, "color": palette[position % len(palette)]},
                name=str(group),
                customdata=frame[["degree", "dropped"]].to_numpy(),
                hovertemplate="participant %{text}<br>neighbours %{customdata[0]}"
                "<br>dropped: %{customdata[1]}<extra></extra>",
            )
        )
    figure.update_layout(
        title="Secure-aggregation neighbour graph",
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return figure
