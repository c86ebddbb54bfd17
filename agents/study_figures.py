"""A study's figures, drawn from its ``runs`` and ``rounds`` tables (:mod:`agents.study`).

Every point carries a 95% Student-t interval over seeds (:mod:`agents.intervals`); figures are
drawn on matplotlib's ``Figure`` directly (no pyplot state) and written atomically as PNG and
SVG with fixed metadata, so the same tables give the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.intervals import mean_interval
from agents.results_io import atomic_write
from agents.study_metrics import ACCURACY, PAID, TYPE_ATTRIBUTES, Metric

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LEVEL_STYLES = {"low": ":", "mid": "--", "high": "-", "all": "-"}
FORMATS = ("png", "svg")


def _colors(mechanisms: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {m: palette(i % 10) for i, m in enumerate(mechanisms)}


def save(fig: Figure, folder: Path, stem: str) -> str:
    """Write ``stem.png`` and ``stem.svg`` atomically; the PNG's path relative to the report."""
    import matplotlib

    for fmt in FORMATS:
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}

        def write(tmp: Path, fmt: str = fmt, metadata: Any = metadata) -> None:
            with matplotlib.rc_context({"svg.hashsalt": "fedmarket", "svg.fonttype": "none"}):
                fig.savefig(tmp, format=fmt, dpi=150, metadata=metadata, bbox_inches="tight")

        atomic_write(folder / "figures" / f"{stem}.{fmt}", write)
    return f"figures/{stem}.png"


def _figure(rows: int, cols: int, width: float = 4.2, height: float = 3.2) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width * cols + 1.5, height * rows + 0.8), layout="constrained")


def participation_figure(
    rounds: pd.DataFrame, settings: Sequence[str], mechanisms: Sequence[str]
) -> Figure:
    """Rows: settings; columns: all identities, then each type attribute that varies; lines:
    mechanisms (colour) x type level (line style); band: 95% interval over seeds."""
    attributes = [
        a
        for a in TYPE_ATTRIBUTES
        if any(
            c.startswith(f"participation_{a}_") and c != f"participation_{a}_all" for c in rounds
        )
    ]
    panels = [("all identities", ["participation"])] + [
        (a.replace("_", " "), sorted(c for c in rounds if c.startswith(f"participation_{a}_")))
        for a in attributes
    ]
    fig = _figure(len(settings), len(panels))
    axes = np.atleast_2d(fig.subplots(len(settings), len(panels), sharey=True, squeeze=False))
    from matplotlib.ticker import MaxNLocator

    colors = _colors(mechanisms)
    data = rounds[rounds["round"] >= 1]
    for i, setting in enumerate(settings):
        for j, (title, columns) in enumerate(panels):
            ax: Axes = axes[i, j]
            for mechanism in mechanisms:
                frame = data[(data["setting"] == setting) & (data["mechanism"] == mechanism)]
                for column in columns:
                    if column not in frame or frame[column].isna().all():
                        continue
                    level = column.rsplit("_", 1)[-1] if column != "participation" else "all"
                    x, mean, low, high = _band(frame, column)
                    low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
                    label = mechanism if column == "participation" else f"{mechanism}, {level}"
                    ax.plot(
                        x,
                        mean * 100,
                        color=colors[mechanism],
                        linestyle=LEVEL_STYLES.get(level, "-"),
                        marker="o",
                        markersize=3,
                        label=label,
                    )
                    ax.fill_between(x, low * 100, high * 100, color=colors[mechanism], alpha=0.15)
            ax.set_title(f"{setting}: {title}", fontsize=9)
            ax.set_xlabel("round")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if j == 0:
                ax.set_ylabel("identities that joined (%)")
            ax.set_ylim(-5, 105)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.legend(fontsize=6, loc="lower left")
    return fig


def _band(frame: pd.DataFrame, column: str) -> tuple[Any, Any, Any, Any]:
    """Rounds, and per round the mean of ``column`` over seeds and its interval."""
    by_round = [(r, mean_interval(g[column].to_numpy())) for r, g in frame.groupby("round")]
    x = np.array([r for r, _ in by_round], dtype=float)
    stats = np.array([s for _, s in by_round], dtype=float).reshape(-1, 3)
    return x, stats[:, 0], stats[:, 1], stats[:, 2]


def accuracy_budget_figure(
    runs: pd.DataFrame, settings: Sequence[str], mechanisms: Sequence[str]
) -> Figure:
    """One panel per setting: each mechanism's mean total paid against its mean final test
    accuracy, with 95% intervals on both axes."""
    fig = _figure(1, len(settings))
    axes = fig.subplots(1, len(settings), sharey=True, squeeze=False)[0]
    colors = _colors(mechanisms)
    for ax, setting in zip(axes, settings, strict=True):
        for mechanism in mechanisms:
            frame = runs[(runs["setting"] == setting) & (runs["mechanism"] == mechanism)]
            x, x_low, x_high = mean_interval(frame[PAID.column])
            y, y_low, y_high = mean_interval(frame[ACCURACY.column])
            y_low, y_high = ACCURACY.clip(y_low, y_high)
            x_low, x_high = PAID.clip(x_low, x_high)
            xerr = [[x - x_low], [x_high - x]] if np.isfinite(x_low) else None
            yerr = [[(y - y_low) * 100], [(y_high - y) * 100]] if np.isfinite(y_low) else None
            ax.errorbar(
                [x], [y * 100], xerr=xerr, yerr=yerr, fmt="o", capsize=4,
                color=colors[mechanism], label=mechanism,
            )  # fmt: skip
        ax.set_title(setting, fontsize=9)
        ax.set_xlabel(PAID.axis)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ACCURACY.axis)
    axes[0].legend(fontsize=7)
    return fig


def dodge_figure(
    runs: pd.DataFrame, metric: Metric, settings: Sequence[str], mechanisms: Sequence[str]
) -> Figure:
    """Settings along x, one point per mechanism (side by side) with its 95% interval."""
    fig = _figure(1, 1, width=max(4.5, 1.6 * len(settings) * max(1, len(mechanisms) / 3)))
    ax = fig.subplots()
    colors = _colors(mechanisms)
    width = 0.5 / max(1, len(mechanisms))
    for k, mechanism in enumerate(mechanisms):
        xs, ys, lows, highs = [], [], [], []
        for i, setting in enumerate(settings):
            frame = runs[(runs["setting"] == setting) & (runs["mechanism"] == mechanism)]
            mean, low, high = mean_interval(frame[metric.column])
            xs.append(i - 0.25 + width * (k + 0.5))
            low, high = metric.clip(low, high)
            ys.append(mean * metric.scale)
            lows.append((mean - low) * metric.scale if np.isfinite(low) else 0.0)
            highs.append((high - mean) * metric.scale if np.isfinite(high) else 0.0)
        ax.errorbar(
            xs, ys, yerr=[lows, highs], fmt="o", capsize=4, color=colors[mechanism],
            label=mechanism,
        )  # fmt: skip
    ax.set_xticks(range(len(settings)), list(settings))
    ax.set_xlim(-0.5, len(settings) - 0.5)
    ax.set_xlabel("heterogeneity setting")
    ax.set_ylabel(metric.axis)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    return fig


__all__ = ["FORMATS", "accuracy_budget_figure", "dodge_figure", "participation_figure", "save"]
