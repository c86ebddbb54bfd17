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
from typing import TYPE_CHECKING

from agents.intervals import LEVEL, NONE, mean_interval, rank_mechanisms
from agents.results_io import atomic_write
from agents.study_figures import (
    FORMATS,
    accuracy_budget_figure,
    dodge_figure,
    participation_figure,
    save,
)
from agents.study_metrics import (
    ACCURACY,
    APPENDIX,
    EXPLOIT,
    IR,
    PAID,
    PARTICIPATION,
    PEARSON,
    SPEARMAN,
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
    from matplotlib.figure import Figure

    from agents.study_plan import StudyPlan


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


def write_report(
    plan: StudyPlan, runs: pd.DataFrame, rounds: pd.DataFrame, out: str | Path
) -> Path:
    """Draw every figure of the study ``plan``'s ``runs`` and ``rounds`` tables (PNG and SVG
    under ``out/figures``) and write ``out/report.md``."""
    folder = Path(out)
    settings, mechanisms = list(plan.settings), list(plan.mechanisms)
    runs = with_exploitation(runs)
    sections: list[_Section] = []

    def figure(stem: str, draw: Callable[[], Figure]) -> str:
        return save(draw(), folder, stem)

    # 1. participation over rounds, by type
    participation = rank_mechanisms(runs, PARTICIPATION.column, settings=settings)
    gaps = type_gaps(rounds)
    findings = [comparison(participation, PARTICIPATION, s) for s in settings]
    findings += [g for s in settings if (g := gap_sentence(gaps, s))]
    if gaps.empty:
        findings.append("No participant type varies: only all identities are drawn.")
    sections.append(
        _Section(
            "Participation over rounds, by participant type",
            figure(
                "participation",
                lambda: participation_figure(rounds, settings, mechanisms),
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
    text = _markdown(plan, runs, sections, accuracy, participation)
    path = folder / "report.md"
    atomic_write(path, text_writer(text))
    return path


def _markdown(
    plan: StudyPlan,
    runs: pd.DataFrame,
    sections: list[_Section],
    accuracy: pd.DataFrame,
    participation: pd.DataFrame,
) -> str:
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
        "x round); every figure is drawn from them by `agents.study_figures`.",
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
