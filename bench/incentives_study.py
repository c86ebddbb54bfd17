"""The incentives study (issue 26): which mechanisms keep which participants, and at what
accuracy, when data and compute are unequal. Runs ``examples/studies/incentives.toml``
(or ``--study``), times it, writes its report to ``--out`` and prints the headline table:
per heterogeneity setting and mechanism, the final test accuracy and the participation of
each participant group, mean over seeds with 95% t-intervals, and which differences are
significant (paired by seed).

Run: ``python -m bench.incentives_study [--seeds N] [--out bench/results/incentives]``;
``--tables-only`` reprints the headline from an earlier run's ``runs.csv``.
The first run of a seed also embeds its data split once (cached on disk afterwards); the
wall time printed says whether the cache was cold.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from agents.intervals import mean_interval, paired_difference
from agents.study import load_study, study
from bench.machine import model_name, simd_level

ROOT = Path(__file__).resolve().parents[1]


def _cell(values: pd.Series, digits: int = 3, share: bool = False) -> str:
    """Mean [95% t-interval]; a share's interval is clipped to [0, 1]."""
    mean, low, high = mean_interval(values.to_numpy())
    if share:
        low, high = max(low, 0.0), min(high, 1.0)
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _extremes(frame: pd.DataFrame, column: str) -> tuple[str, str, float, float, float, str]:
    """The mechanisms with the highest and lowest mean ``column``, and their difference
    paired by seed with its 95% interval and whether it excludes 0."""
    means = frame.groupby("mechanism")[column].mean().sort_values()
    top, bottom = str(means.index[-1]), str(means.index[0])
    a = frame[frame["mechanism"] == top].sort_values("seed")[column]
    b = frame[frame["mechanism"] == bottom].sort_values("seed")[column]
    diff, low, high = paired_difference(a.to_numpy(), b.to_numpy())
    sig = "significant" if low > 0 or high < 0 else "inside the noise"
    return top, bottom, diff, low, high, sig


def headline(runs: pd.DataFrame) -> list[str]:
    """The README table: accuracy and group participation by setting and mechanism."""
    groups = sorted(c for c in runs if c.startswith("participation_group_"))
    names = [c.removeprefix("participation_group_") for c in groups]
    lines = [
        "| setting | mechanism | final test accuracy | "
        + " | ".join(f"joined: {n}" for n in names)
        + " | social welfare |",
        "|---|---|---|" + "---|" * len(names) + "---|",
    ]
    verdicts = []
    for setting, frame in runs.groupby("setting", sort=False):
        for mechanism, rows in frame.groupby("mechanism", sort=False):
            rows = rows.sort_values("seed")
            cells = [_cell(rows["final_test_accuracy"])]
            cells += [_cell(rows[c], 2, share=True) for c in groups]
            cells.append(_cell(rows["social_welfare"], 0))
            lines.append(f"| {setting} | {mechanism} | " + " | ".join(cells) + " |")
        best, worst, diff, low, high, sig = _extremes(frame, "final_test_accuracy")
        verdicts.append(
            f"- {setting}: best accuracy {best}, worst {worst}: difference {diff:+.3f} "
            f"[{low:+.3f}, {high:+.3f}] ({sig})"
        )
        top, bottom, diff, low, high, sig = _extremes(frame, "social_welfare")
        verdicts.append(
            f"  - social welfare highest under {top}, lowest under {bottom}: "
            f"{diff:+.0f} [{low:+.0f}, {high:+.0f}] ({sig})"
        )
        for column, name in zip(groups, names, strict=True):
            hi_m, lo_m, diff, low, high, sig = _extremes(frame, column)
            verdicts.append(
                f"  - {name} joined most under {hi_m}, least under {lo_m}: "
                f"{100 * diff:+.0f} points [{100 * low:+.0f}, {100 * high:+.0f}] ({sig})"
            )
    return lines + [""] + verdicts


def headline_figure(runs: pd.DataFrame, out: Path) -> Path:
    """Who joins under which mechanism: each group's share of rounds joined, mean over seeds
    with 95% intervals, one panel per setting (PNG and SVG under ``out``)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    groups = sorted(c for c in runs if c.startswith("participation_group_"))
    settings = list(dict.fromkeys(runs["setting"]))
    mechanisms = list(dict.fromkeys(runs["mechanism"]))
    fig = Figure(figsize=(4.0 * len(settings) + 1.0, 3.6), layout="constrained")
    axes = fig.subplots(1, len(settings), sharey=True, squeeze=False)[0]
    markers = ["o", "s", "^", "D"]
    for ax, setting in zip(axes, settings, strict=True):
        frame = runs[runs["setting"] == setting]
        for k, column in enumerate(groups):
            means, lows, highs = [], [], []
            for mechanism in mechanisms:
                mean, low, high = mean_interval(frame[frame["mechanism"] == mechanism][column])
                means.append(100 * mean)
                lows.append(100 * (mean - max(low, 0.0)))
                highs.append(100 * (min(high, 1.0) - mean))
            y = [i + 0.18 * (k - (len(groups) - 1) / 2) for i in range(len(mechanisms))]
            ax.errorbar(
                means,
                y,
                xerr=[lows, highs],
                fmt=markers[k % len(markers)],
                capsize=3,
                label=column.removeprefix("participation_group_"),
            )
        ax.set_yticks(range(len(mechanisms)), mechanisms)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("rounds joined (%)")
        ax.set_title(setting.replace("_", " "))
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(title="owners", loc="lower right", fontsize=8)
    out.mkdir(parents=True, exist_ok=True)
    for fmt in ("png", "svg"):
        fig.savefig(
            out / f"headline.{fmt}",
            dpi=110,
            metadata={"Software": None} if fmt == "png" else {"Date": None},
        )
    return out / "headline.png"


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=str(ROOT / "examples/studies/incentives.toml"))
    parser.add_argument("--seeds", type=int, default=None, help="override: seeds 0..N-1")
    parser.add_argument("--out", default=str(ROOT / "bench/results/incentives"))
    parser.add_argument(
        "--tables-only",
        action="store_true",
        help="print the headline from --out's runs.csv (an earlier run) without running",
    )
    args = parser.parse_args()
    if args.tables_only:
        runs = pd.read_csv(Path(args.out) / "runs.csv")
        print(f"# Study tables from {_shown(Path(args.out) / 'runs.csv')}: {len(runs)} runs")
        print()
        print("\n".join(headline(runs)))
        return
    plan = load_study(args.study)
    if args.seeds is not None:
        plan = plan.replace(seeds=tuple(range(args.seeds)))
    started = time.perf_counter()
    result = study(plan, out=args.out, progress=True)
    wall = time.perf_counter() - started
    runs = result.runs
    print(f"# Study {plan.name}: {len(runs)} runs")
    print()
    print(
        f"CPU: {model_name()} ({simd_level()}); wall time {wall:.0f} s "
        f"({wall / len(runs):.2f} s a run, serial, one process; includes embedding any seed's "
        "data split not yet in the disk cache)."
    )
    print(f"Report, figures and tables: {_shown(Path(args.out))}")
    print()
    print("\n".join(headline(runs)))
    print()
    print(f"Figure: {_shown(headline_figure(runs, Path(args.out)))}")


if __name__ == "__main__":
    main()
