"""A study's figures and its Markdown report, drawn from the ``runs`` and ``rounds`` tables.

Every number carries a 95% Student-t interval over seeds; a comparison between mechanisms is
the paired (by seed) difference with its interval, and one whose interval holds 0 is "none
(inside the noise)" (:mod:`agents.intervals`). Captions are computed from the numbers
(:mod:`agents.study_metrics`). A metric a run does not report (an older summary, or no
non-honest strategy) is left out, with a line that says so. Figures are drawn on
matplotlib's ``Figure`` directly (no pyplot state), and every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.intervals import LEVEL, NONE, mean_interval, rank_mechanisms
from agents.results_io import atomic_write
from agents.study_metrics import (
    ACCURACY,
    APPENDIX,
    EXPLOIT,
    IR,
    PAID,
    PARTICIPATION,
    PEARSON,
    SPEARMAN,
    TYPE_ATTRIBUTES,
    Metric,
    comparison,
    gap_sentence,
    non_honest_columns,
    present,
    type_gaps,
    with_exploitation,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from agents.study import StudyResult

LEVEL_STYLES = {"low": ":", "mid": "--", "high": "-", "all": "-"}
FORMATS = ("png", "svg")


# ----- figures -----
def _colors(mechanisms: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {m: palette(i % 10) for i, m in enumerate(mechanisms)}


def _save(fig: Figure, folder: Path, stem: str) -> str:
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


# ----- the report -----
def text_writer(text: str) -> Callable[[Path], None]:
    """A writer for :func:`agents.results_io.atomic_write` that writes ``text`` (UTF-8)."""

    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return write


@dataclass
class _Section:
    """A numbered section: a figure (or ``None``: not drawn), its caption's first sentences
    and the findings computed from the numbers (one per setting and comparison)."""

    title: str
    figure: str | None
    intro: str
    findings: list[str]


def write_report(result: StudyResult, out: str | Path) -> Path:
    """Draw every figure (PNG and SVG under ``out/figures``) and write ``out/report.md``."""
    folder = Path(out)
    plan = result.plan
    settings, mechanisms = list(plan.settings), list(plan.mechanisms)
    runs = with_exploitation(result.runs)
    sections: list[_Section] = []

    def figure(stem: str, draw: Callable[[], Figure]) -> str:
        return _save(draw(), folder, stem)

    # 1. participation over rounds, by type
    participation = rank_mechanisms(runs, PARTICIPATION.column, settings=settings)
    gaps = type_gaps(result.rounds)
    findings = [comparison(participation, PARTICIPATION, s) for s in settings]
    findings += [g for s in settings if (g := gap_sentence(gaps, s))]
    if gaps.empty:
        findings.append("No participant type varies: only all identities are drawn.")
    sections.append(
        _Section(
            "Participation over rounds, by participant type",
            figure(
                "participation",
                lambda: participation_figure(result.rounds, settings, mechanisms),
            ),
            "Share of identities that joined each round (mean over seeds, band: 95% "
            "interval), overall and by data-size, quality and compute tercile.",
            findings,
        )
    )

    # 2. final accuracy against budget
    accuracy = rank_mechanisms(runs, ACCURACY.column, settings=settings)
    paid = rank_mechanisms(runs, PAID.column, higher_is_better=False, settings=settings)
    findings = [comparison(accuracy, ACCURACY, s) for s in settings]
    findings += [comparison(paid, PAID, s) for s in settings]
    sections.append(
        _Section(
            "Final test accuracy against the budget spent",
            figure(
                "accuracy_vs_budget", lambda: accuracy_budget_figure(runs, settings, mechanisms)
            ),
            "Each point is a mechanism's mean over seeds; bars are 95% intervals on both axes.",
            findings,
        )
    )

    # 3.-5. fairness, individual rationality, exploitability
    fairness = PEARSON if present(runs, PEARSON) else SPEARMAN
    for title, stem, metric, intro in (
        (
            "Fairness: pay against value",
            "fairness",
            fairness,
            f"The {fairness.name} over identities (1: pay follows value).",
        ),
        (
            "Individual rationality",
            "individual_rationality",
            IR,
            "The share of honest identities that trained and were paid at least their cost "
            "over the run.",
        ),
        (
            "Exploitability",
            "exploitability",
            EXPLOIT,
            "The share of the run's budget paid to non-honest strategies ("
            + ", ".join(c.removeprefix("reward_share_") for c in non_honest_columns(runs))
            + "); lower is better.",
        ),
    ):
        if not present(runs, metric):
            missing = (
                "no setting has a non-honest strategy"
                if metric is EXPLOIT
                else f"no run reports the {metric.name}"
            )
            sections.append(_Section(title, None, f"Not drawn: {missing}.", []))
            continue
        ranking = rank_mechanisms(
            runs, metric.column, higher_is_better=metric.higher_is_better, settings=settings
        )
        sections.append(
            _Section(
                title,
                figure(stem, partial(dodge_figure, runs, metric, settings, mechanisms)),
                f"{intro} Points: mean over seeds; bars: 95% intervals.",
                [comparison(ranking, metric, s) for s in settings],
            )
        )
    text = _markdown(result, runs, sections, accuracy, participation)
    path = folder / "report.md"
    atomic_write(path, text_writer(text))
    return path


def _markdown(
    result: StudyResult,
    runs: pd.DataFrame,
    sections: list[_Section],
    accuracy: pd.DataFrame,
    participation: pd.DataFrame,
) -> str:
    plan = result.plan
    base = plan.base
    lines = [
        f"# Study: {plan.name}",
        "",
        f"{len(plan.mechanisms)} mechanisms x {len(plan.settings)} settings x "
        f"{len(plan.seeds)} seeds = {len(runs)} runs of the base scenario *{base.name}* "
        f"({base.rounds} rounds, {base.n_identities} identities; `base.toml`).",
        "",
        f"- Mechanisms: {', '.join(plan.mechanisms)}",
        f"- Seeds: {', '.join(str(s) for s in plan.seeds)}",
        "- Settings:",
    ]
    for name, values in plan.settings.items():
        changes = ", ".join(f"`{k}` = {v!r}" for k, v in values.items()) or "the base as is"
        lines.append(f"  - *{name}*: {changes}")
    lines += [
        "",
        f"Intervals are {LEVEL:.0%} Student-t intervals over seeds. A difference between two "
        "mechanisms is paired by seed (same data and initial model); it is *significant* "
        f"when its {LEVEL:.0%} interval excludes 0, else *{NONE}*. Tables: `runs.csv` / "
        "`runs.parquet` (one row per run), `rounds.csv` / `rounds.parquet` (one row per run "
        "x round); every figure is drawn from them by `agents.study_report`.",
        "",
    ]
    figures = 0
    for number, section in enumerate(sections, start=1):
        lines += [f"## {number}. {section.title}", ""]
        if section.figure is None:
            lines += [section.intro, ""]
            continue
        figures += 1
        svg = section.figure.removesuffix(".png") + ".svg"
        lines += [
            f"![{section.title}]({section.figure})",
            "",
            f"*Figure {figures}.* {section.intro} ([SVG]({svg}))",
            "",
            *(f"- {finding}" for finding in section.findings),
            "",
        ]
    number = len(sections) + 1
    lines += [f"## {number}. Rankings", ""]
    for setting in plan.settings:
        lines += [f"### {setting}", ""]
        for metric, ranking in ((ACCURACY, accuracy), (PARTICIPATION, participation)):
            lines += [f"By {metric.name}:", "", *_ranking_table(ranking, metric, setting), ""]
    lines += [f"## {number + 1}. Every headline metric", ""]
    for setting in plan.settings:
        lines += [f"### {setting}", "", *_metrics_table(runs, setting, plan.mechanisms), ""]
    return "\n".join(lines)


def _ranking_table(ranking: pd.DataFrame, metric: Metric, setting: str) -> list[str]:
    rows = ranking[ranking["setting"] == setting].sort_values("rank")
    out = [
        f"| rank | mechanism | mean [{LEVEL:.0%} interval] | difference to the best "
        f"[{LEVEL:.0%} interval, paired] | significant? |",
        "|---:|---|---|---|---|",
    ]
    for _, row in rows.iterrows():
        mean = metric.interval(row["mean"], row["ci_low"], row["ci_high"])
        diff = "" if row["verdict"] == "best" else metric.gap(
            row["difference"], row["diff_low"], row["diff_high"]
        )  # fmt: skip
        verdict = "(best)" if row["verdict"] == "best" else row["verdict"]
        out.append(f"| {row['rank']} | {row['mechanism']} | {mean} | {diff} | {verdict} |")
    return out


def _metrics_table(runs: pd.DataFrame, setting: str, mechanisms: Sequence[str]) -> list[str]:
    frame = runs[runs["setting"] == setting]
    out = ["| metric | " + " | ".join(mechanisms) + " |", "|---|" + "---|" * len(mechanisms)]
    for metric in APPENDIX:
        if not present(frame, metric):
            continue
        cells = [
            metric.interval(*mean_interval(frame.loc[frame["mechanism"] == m, metric.column]))
            for m in mechanisms
        ]
        out.append(f"| {metric.axis} | " + " | ".join(cells) + " |")
    return out


__all__ = [
    "FORMATS",
    "accuracy_budget_figure",
    "dodge_figure",
    "participation_figure",
    "text_writer",
    "write_report",
]
