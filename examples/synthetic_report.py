"""Experiment 1's report: the summary over seeds, the two figures and their captions."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from agents.intervals import mean_interval, paired_difference  # noqa: E402
from agents.results_io import atomic_write  # noqa: E402

if TYPE_CHECKING:
    pass

from synthetic_setup import (  # noqa: E402
    TARGET_USABLE,
    Plan,
)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval per task, condition and metric (over seeds)."""
    out = []
    for (task, condition, metric), frame in runs.groupby(
        ["task", "condition", "metric"], sort=False
    ):
        mean, low, high = mean_interval(frame["value"].to_numpy())
        out.append(
            {
                "task": task,
                "condition": condition,
                "metric": metric,
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "seeds": int(np.isfinite(frame["value"].to_numpy(dtype=float)).sum()),
            }
        )
    return pd.DataFrame(out)


def paired(
    runs: pd.DataFrame, task: str, a: tuple[str, str], b: tuple[str, str]
) -> tuple[float, float, float]:
    """Paired-by-seed difference ``a - b`` of two (condition, metric) cells of ``task``."""
    frame = runs[runs["task"] == task]

    def series(cell: tuple[str, str]) -> pd.Series:
        rows = frame[(frame["condition"] == cell[0]) & (frame["metric"] == cell[1])]
        return rows.set_index("seed")["value"]

    left, right = series(a).align(series(b), join="inner")
    return paired_difference(left.to_numpy(), right.to_numpy())


LABELS = {
    "usable_share_kept": "usable, after the filter",
    "usable_share_raw": "usable, raw answers",
    "kept_share": "kept by the filter",
}


def _cell(
    summary: pd.DataFrame, task: str, condition: str, metric: str
) -> tuple[float, float, float]:
    row = summary[
        (summary["task"] == task)
        & (summary["condition"] == condition)
        & (summary["metric"] == metric)
    ]
    if row.empty:
        return float("nan"), float("nan"), float("nan")
    r = row.iloc[0]
    return float(r["mean"]), float(r["ci_low"]), float(r["ci_high"])


LEGEND: dict[str, Any] = {
    "fontsize": 7,
    "loc": "upper center",
    "bbox_to_anchor": (0.5, -0.12),
    "ncols": 2,
    "frameon": False,
}
"""Legends below each panel: never over a bar or an interval."""


def _bars(
    ax: Any,
    summary: pd.DataFrame,
    tasks: Sequence[str],
    series: Sequence[tuple[str, str, str]],
    *,
    ylabel: str,
    title: str,
) -> None:
    """Grouped bars (one group per task, one bar per (condition, metric, label)) with 95% CIs."""
    width = 0.8 / len(series)
    for j, (condition, metric, label) in enumerate(series):
        xs, means, lows, highs = [], [], [], []
        for i, task in enumerate(tasks):
            mean, low, high = _cell(summary, task, condition, metric)
            xs.append(i - 0.4 + width * (j + 0.5))
            means.append(mean)
            lows.append(mean - low if np.isfinite(low) else 0.0)
            highs.append(high - mean if np.isfinite(high) else 0.0)
        ax.bar(xs, means, width=width * 0.9, label=label, yerr=[lows, highs], capsize=3)
        for x, mean in zip(xs, means, strict=True):
            if not np.isfinite(mean):  # too few kept texts in every seed: say so, not 0
                ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(range(len(tasks)), [t.replace("_", " ") for t in tasks])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)


def quality_figure(summary: pd.DataFrame, tasks: Sequence[str]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 7.6), layout="constrained")
    axes = fig.subplots(2, 2)
    _bars(
        axes[0, 0],
        summary,
        tasks,
        [
            ("matched", "kept_share", "matched: kept by filter"),
            ("matched", "usable_share_raw", "matched: usable, raw"),
            ("matched", "usable_share_kept", "matched: usable, kept"),
            ("mismatched", "usable_share_kept", "mismatched: usable, kept"),
            ("real", "usable_share", "real texts (ceiling)"),
        ],
        ylabel="share of texts (0-1)",
        title="usable texts (independent judge)",
    )
    axes[0, 0].axhline(TARGET_USABLE, color="k", ls=":", lw=1, label="target 0.70")
    axes[0, 0].set_ylim(0, 1)
    axes[0, 0].legend(**LEGEND)
    pairs = [
        ("mmd2", "MMD$^2$ to held-out real (MiniLM, Gaussian kernel)", "MMD$^2$ (unitless)", None),
        (
            "two_sample_auc",
            "two-sample classifier AUC (0.5: indistinguishable)",
            "AUC (0-1)",
            (0.0, 1.0),
        ),
        ("mauve", "MAUVE (1: same distribution)", "MAUVE (0-1)", (0.0, 1.05)),
    ]
    for ax, (metric, title, ylabel, ylim) in zip(axes.ravel()[1:], pairs, strict=True):
        _bars(
            ax,
            summary,
            tasks,
            [
                ("matched", metric, "matched prompt"),
                ("mismatched", metric, "mismatched prompt (break)"),
                ("matched", f"{metric}_real_baseline", "real vs real, same n"),
            ],
            ylabel=ylabel,
            title=title,
        )
        if ylim is not None:
            ax.set_ylim(*ylim)
        if metric == "two_sample_auc":
            ax.axhline(0.5, color="k", ls=":", lw=1)
        ax.legend(**LEGEND)
    fig.suptitle(
        "SmolLM2-135M-Instruct texts: usable share and similarity to real texts "
        "(mean, 95% t-interval over seeds)",
        fontsize=11,
    )
    return fig


def usefulness_figure(summary: pd.DataFrame, tasks: Sequence[str]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    _bars(
        axes[0],
        summary,
        tasks,
        [
            ("real", "client_only_accuracy", "client's real texts only"),
            ("matched", "augmented_accuracy", "client + matched synthetic"),
            ("mismatched", "augmented_accuracy", "client + mismatched synthetic"),
            ("matched", "synthetic_only_accuracy", "matched synthetic only"),
            ("matched", "real_same_n_accuracy", "as many real texts"),
            ("real", "majority_rate", "majority class rate"),
        ],
        ylabel="test accuracy (real test set, 0-1)",
        title="usefulness (MiniLM head)",
    )
    axes[0].set_ylim(0, 1)
    axes[0].legend(**LEGEND)
    _bars(
        axes[1],
        summary,
        tasks,
        [
            ("matched", "membership_auc", "shown (matched), kept texts"),
            ("matched", "membership_auc_unfiltered", "shown (matched), unfiltered"),
            ("mismatched", "membership_auc", "never shown (control), kept"),
            ("mismatched", "membership_auc_unfiltered", "never shown (control), unfiltered"),
        ],
        ylabel="membership-inference AUC (0.5: no leak)",
        title="membership inference on the few-shot examples",
    )
    axes[1].axhline(0.5, color="k", ls=":", lw=1)
    axes[1].set_ylim(0, 1)
    axes[1].legend(**LEGEND)
    _bars(
        axes[2],
        summary,
        tasks,
        [
            ("matched", "nn_similarity_client", "to the shown texts"),
            ("matched", "nn_similarity_unseen", "to as many unseen real texts"),
        ],
        ylabel="nearest cosine similarity (MiniLM, -1 to 1)",
        title="copying distance of matched synthetic texts",
    )
    axes[2].set_ylim(0, 1)
    axes[2].legend(**LEGEND)
    return fig


def _fmt(cell: tuple[float, float, float], digits: int = 2) -> str:
    mean, low, high = cell
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _says(diff: tuple[float, float, float], up: str, down: str, none: str = "none") -> str:
    """``up``/``down`` when the paired interval lies above/below 0, else ``none``."""
    _, low, high = diff
    if np.isfinite(low) and low > 0:
        return up
    if np.isfinite(high) and high < 0:
        return down
    return none if none != "none" else "no measurable change in"


def captions(
    runs: pd.DataFrame, summary: pd.DataFrame, plan: Plan, seconds: float, cpu: str
) -> str:
    tasks = plan.tasks

    def c(t: str, cond: str, metric: str, digits: int = 2) -> str:
        """A summary cell as text, with its seed count when some seeds had no value."""
        text = _fmt(_cell(summary, t, cond, metric), digits)
        row = summary[
            (summary["task"] == t) & (summary["condition"] == cond) & (summary["metric"] == metric)
        ]
        seeds = int(row["seeds"].iloc[0]) if not row.empty else 0
        if 0 < seeds < len(plan.seeds):
            text += f" ({seeds} of {len(plan.seeds)} seeds)"
        return text

    lines = [
        "# Experiment 1: foundation-model-generated data (examples/synthetic_data.py)",
        "",
        f"{len(plan.seeds)} seeds x {len(tasks)} tasks, {plan.matched_per_class} matched and "
        f"{plan.mismatched_per_class} mismatched answers per class and seed, "
        f"{plan.shots_per_class} client texts per class; {seconds:.0f} s on {cpu}, of which "
        f"{runs[runs['metric'] == 'generation_seconds']['value'].sum():.0f} s generating "
        "(answers already in the cache take none). "
        "Means with 95% Student-t intervals over seeds (with 2-5 seeds they may reach past "
        "[0, 1]); differences paired by seed.",
        "",
        "**Usable** (measured independently of the filter, which works on MiniLM embeddings "
        "and a real 'ref' split): passes the structural checks (6+ words, no meta or chat "
        "talk, no markup, mostly letters, not repetitive), lies in the task's domain by word "
        "counts (nearest hashed 1-2-gram similarity to a disjoint real 'judge' split at least "
        "the 5th percentile of held-out real texts'), and a word-count linear probe trained "
        "on the judge split predicts the class asked for. Real held-out texts with their "
        "true labels pass this check at the 'real texts' rate (the judge errs too).",
        "",
        "![quality](synthetic_quality.png)",
        "",
    ]
    quality = []
    for t in tasks:
        lift = paired(runs, t, ("matched", "usable_share_kept"), ("matched", "usable_share_raw"))
        vs_real = paired(
            runs, t, ("matched", "two_sample_auc"), ("matched", "two_sample_auc_real_baseline")
        )
        usable = _cell(summary, t, "matched", "usable_share_kept")
        meets = (
            "cannot be compared with"
            if not np.isfinite(usable[0])
            else "meets"
            if usable[1] >= TARGET_USABLE
            else "misses"
            if usable[2] < TARGET_USABLE
            else "is not distinguishable from"
        )
        rise = _says(lift, "a measurable rise", "a measurable fall", "inside the noise")
        kept_brk = paired(runs, t, ("matched", "kept_share"), ("mismatched", "kept_share"))
        mauve_note = (
            " MAUVE does not separate even two real samples at these sizes (real vs real "
            f"{c(t, 'matched', 'mauve_real_baseline')}), so it is reported but not read."
            if _cell(summary, t, "matched", "mauve_real_baseline")[0] < 0.5
            else ""
        )
        quality.append(
            f"**{t}**: the filter keeps {c(t, 'matched', 'kept_share')} of the raw matched "
            f"answers; the usable share goes from {c(t, 'matched', 'usable_share_raw')} of raw "
            f"answers to {c(t, 'matched', 'usable_share_kept')} of kept ones (difference "
            f"{_fmt(lift)}: {rise}), which {meets} the {TARGET_USABLE:.2f} target; real "
            f"held-out texts score {c(t, 'real', 'usable_share')} on the same check "
            "(the judge's test accuracy "
            f"{c(t, 'real', 'judge_test_accuracy')}), so kept texts reach "
            f"{c(t, 'matched', 'usable_kept_vs_real')} of the real texts' rate. Kept texts are "
            f"{_says(vs_real, 'easier', 'harder', 'not measurably easier')} to tell from real "
            f"ones than real texts are (two-sample AUC {c(t, 'matched', 'two_sample_auc')} vs "
            f"{c(t, 'matched', 'two_sample_auc_real_baseline')}; MMD^2 "
            f"{c(t, 'matched', 'mmd2', 3)} vs {c(t, 'matched', 'mmd2_real_baseline', 3)})."
            f"{mauve_note} Break condition (the other task's domain and texts in the prompt): "
            f"the filter keeps {c(t, 'mismatched', 'kept_share')} of the answers (matched minus "
            f"mismatched {_fmt(kept_brk)}: "
            f"{_says(kept_brk, 'fewer survive', 'more survive', 'no measurable change')}), "
            f"too few for the similarity measures (5 kept texts needed); usable among raw "
            f"answers {c(t, 'mismatched', 'usable_share_raw')}."
        )
    lines.append("**What to conclude.** " + " ".join(quality))
    lines += ["", "![usefulness and privacy](synthetic_usefulness.png)", ""]
    use = []
    for t in tasks:
        gain = paired(runs, t, ("matched", "augmented_accuracy"), ("real", "client_only_accuracy"))
        unf = paired(
            runs, t, ("matched", "unfiltered_augmentation_gain"), ("matched", "augmentation_gain")
        )
        mis = paired(
            runs, t, ("matched", "augmented_accuracy"), ("mismatched", "augmented_accuracy")
        )
        tos = paired(
            runs, t, ("matched", "synthetic_only_accuracy"), ("matched", "real_same_n_accuracy")
        )
        gap = abs(
            _cell(summary, t, "matched", "synthetic_only_accuracy")[0]
            - _cell(summary, t, "real", "majority_rate")[0]
        )
        at_majority = "within 0.02 of" if gap < 0.02 else "away from"
        leak = paired(
            runs,
            t,
            ("matched", "membership_auc_unfiltered"),
            ("mismatched", "membership_auc_unfiltered"),
        )
        use.append(
            f"**{t}**: the client alone scores {c(t, 'real', 'client_only_accuracy')}; adding "
            f"its kept synthetic texts gives {c(t, 'matched', 'augmented_accuracy')}, a gain of "
            f"{_fmt(gain, 3)} ({_says(gain, 'it helps', 'it hurts', 'no measurable effect')}); "
            f"unfiltered texts instead change the gain by {_fmt(unf, 3)}, mismatched ones by "
            f"{_fmt(mis, 3)} (matched minus mismatched). Train on synthetic, test on real: "
            f"{c(t, 'matched', 'synthetic_only_accuracy')} against "
            f"{c(t, 'matched', 'real_same_n_accuracy')} for as many real texts of the same "
            f"classes (difference {_fmt(tos, 3)}; majority rate "
            f"{c(t, 'real', 'majority_rate')}: train-on-synthetic is {at_majority} the rate "
            "of always answering the majority class). Membership inference on the shown "
            "examples: "
            f"AUC {c(t, 'matched', 'membership_auc_unfiltered')} from the unfiltered texts "
            f"against {c(t, 'mismatched', 'membership_auc_unfiltered')} when they were never "
            f"shown (difference {_fmt(leak, 3)}: "
            f"{_says(leak, 'a measurable leak', 'below the control', 'no measurable leak')}), "
            f"{c(t, 'matched', 'membership_auc')} from the kept ones (control "
            f"{c(t, 'mismatched', 'membership_auc')}); "
            f"a synthetic text's nearest MiniLM similarity to the shown texts "
            f"{c(t, 'matched', 'nn_similarity_client')} vs "
            f"{c(t, 'matched', 'nn_similarity_unseen')} to unseen ones (gap "
            f"{c(t, 'matched', 'copying_gap', 3)}); answers dropped as verbatim copies "
            f"(a shared 8-word sequence) {c(t, 'matched', 'dropped_copy_share', 3)}."
        )
    lines.append(
        "**What to conclude.** An interval that holds 0 means no measurable effect at this "
        "many seeds. " + " ".join(use)
    )
    return "\n".join(lines) + "\n"


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))
