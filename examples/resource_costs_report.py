"""Experiment 3's report: the summary over seeds, the Pareto figure and its caption
(:mod:`resource_costs` is the entry point).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from experiment_common import (  # noqa: E402
    Setup,
    fmt_interval,
)


def pareto_front(cost: Any, accuracy: Any) -> list[int]:
    """Positions of the points no other point beats (cost <= and accuracy >=, one strictly)."""
    front = []
    for i in range(len(cost)):
        dominated = any(
            cost[j] <= cost[i]
            and accuracy[j] >= accuracy[i]
            and (cost[j] < cost[i] or accuracy[j] > accuracy[i])
            for j in range(len(cost))
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: cost[i])


def summarize(runs: Any) -> Any:
    """Per task x method: mean and 95% interval of test accuracy, and the costs."""
    import pandas as pd

    from agents.intervals import mean_interval

    rows = []
    for (task, method), frame in runs.groupby(["task", "method"], sort=False):
        acc = mean_interval(frame["test_accuracy"])
        step = mean_interval(frame["run_seconds"] / frame["local_steps"])
        rows.append(
            {
                "task": task,
                "method": method,
                "seeds": len(frame),
                "lr": float(frame["lr"].iloc[0]),
                "test_accuracy": acc[0],
                "test_low": acc[1],
                "test_high": acc[2],
                "trainable_params": int(frame["trainable_params"].iloc[0]),
                "mb_sent": float(frame["mb_sent"].iloc[0]),
                "mb_up": float(frame["mb_up"].iloc[0]),
                "mb_down": float(frame["mb_down"].iloc[0]),
                "peak_rss_mb": float(frame["peak_rss_mb"].iloc[0]),
                "seconds_per_step": step[0],
                "majority_rate": float(frame["majority_rate"].iloc[0]),
            }
        )
    return pd.DataFrame(rows)


MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def plot(summary: Any, cpu: str, setup: Setup) -> Any:
    """Rows: tasks; columns: megabytes sent (log x), peak memory; each method one point with its
    95% interval over seeds; the Pareto front of the means dashed."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    tasks = list(dict.fromkeys(summary["task"]))
    names = list(dict.fromkeys(summary["method"]))
    palette = colormaps["tab10"]
    style = {m: (palette(i % 10), MARKERS[i % len(MARKERS)]) for i, m in enumerate(names)}
    fig = Figure(figsize=(10.5, 3.6 * len(tasks) + 0.8), layout="constrained")
    axes = fig.subplots(len(tasks), 2, squeeze=False)
    panels = (
        ("mb_sent", "megabytes sent, all clients, upload + download (MB, log scale)"),
        ("peak_rss_mb", "peak resident memory of the fine-tuning process (MB)"),
    )
    for i, task in enumerate(tasks):
        frame = summary[summary["task"] == task].reset_index(drop=True)
        for j, (column, xlabel) in enumerate(panels):
            ax = axes[i, j]
            for row in frame.to_dict("records"):
                color, marker = style[row["method"]]
                mean = row["test_accuracy"] * 100
                low = np.clip(row["test_low"] * 100, 0, 100)
                high = np.clip(row["test_high"] * 100, 0, 100)
                err = [[mean - low], [high - mean]] if np.isfinite(low) else None
                ax.errorbar(
                    [row[column]], [mean], yerr=err, fmt=marker, color=color, capsize=4,
                    markeredgecolor="black", markeredgewidth=0.5,
                    label=f"{row['method']} (lr {row['lr']:g})",
                )  # fmt: skip
            cost = frame[column].to_numpy()
            acc = frame["test_accuracy"].to_numpy() * 100
            front = pareto_front(cost, acc)
            ax.plot(cost[front], acc[front], "k--", lw=0.8, label="Pareto front (means)")
            ax.axhline(
                frame["majority_rate"].iloc[0] * 100, color="grey", ls=":", lw=1,
                label="majority class",
            )  # fmt: skip
            if column == "mb_sent":  # traffic spans orders of magnitude; memory does not
                ax.set_xscale("log")
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(task.replace("_", " "), fontsize=10)
            ax.grid(alpha=0.3, which="both")
        axes[i, 1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    seeds = int(summary["seeds"].max())
    fig.suptitle(
        f"FedAvg on MiniLM, {setup.n_clients} clients x {setup.samples_per_client} examples, "
        f"{setup.rounds} rounds, {setup.max_length} tokens; mean and 95% interval over "
        f"{seeds} seeds; {cpu}",
        fontsize=9,
    )
    return fig


def caption(
    summary: Any, setup: Setup, cpu: str, seconds: float, threads: int, planned: int
) -> str:
    """The figure's caption in markdown, with the script's numbers (``planned``: the task x
    method cells a full run has)."""
    lines = [
        "# What federated fine-tuning costs (experiment 3)",
        "",
        "![resource_costs](resource_costs.png)",
        "",
        f"FedAvg, pretrained all-MiniLM-L6-v2, {setup.n_clients} clients x "
        f"{setup.samples_per_client} examples (IID), {setup.rounds} rounds of one local epoch, "
        f"{setup.max_length} tokens, {int(summary['seeds'].max())} seeds; each method's "
        "learning rate picked on validation accuracy on a tuning seed "
        "(`resource_costs_tuning.csv`). Traffic: every client downloads the global trainable "
        "vector and uploads its float32 update each round, summed over clients and rounds. "
        "Peak memory: the resident set of the process that ran the method (torch, model, "
        f"data, caches, training). Run seconds per local step: a run's wall-clock time "
        f"(training and its evaluations) over its local steps, torch on {threads} thread(s) "
        f"of a shared machine (indicative). {cpu}, {seconds / 60:.0f} min.",
        "",
        "| task | method | lr | test accuracy (95% interval) | trainable parameters "
        "| MB sent (up + down) | peak memory (MB) | run s per local step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in summary.to_dict("records"):
        lines.append(
            f"| {row['task']} | {row['method']} | {row['lr']:g} | "
            f"{fmt_interval(row['test_accuracy'], row['test_low'], row['test_high'])} | "
            f"{row['trainable_params']:,} | {row['mb_sent']:.2f} | {row['peak_rss_mb']:.0f} | "
            f"{row['seconds_per_step']:.3f} |"
        )
    lines += ["", "**What to conclude.** " + conclusion(summary), ""]
    if len(summary) < planned:
        lines += [
            f"**A partial run**: {len(summary)} of {planned} task x method cells "
            "(`resource_costs.csv`); the missing cells were not run.",
            "",
        ]
    return "\n".join(lines)


def conclusion(summary: Any) -> str:
    """Per task: the most accurate method, which methods are inside its noise, and the
    cheapest of those in traffic."""
    parts = []
    for task, frame in summary.groupby("task", sort=False):
        best = frame.loc[frame["test_accuracy"].idxmax()]
        # overlapping intervals: not distinguishable from the best at these seeds
        close = frame[frame["test_high"] >= best["test_low"]]
        cheapest = close.loc[close["mb_sent"].idxmin()]
        others = [m for m in close["method"] if m != best["method"]]
        overlap = (
            f"{', '.join(others)} have intervals that overlap it"
            if others
            else "no other method's interval overlaps it"
        )
        parts.append(
            f"On {task}, {best['method']} is the most accurate "
            f"({best['test_accuracy'] * 100:.1f}%); {overlap}, and of these "
            f"{cheapest['method']} sends the least ({cheapest['mb_sent']:.2f} MB against "
            f"{best['mb_sent']:.2f} MB)"
        )
    return ". ".join(parts) + "."
