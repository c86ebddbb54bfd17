"""The incentives study (issue 26): which mechanisms keep which participants, and at what
accuracy, when data and compute are unequal. Runs ``examples/studies/incentives.toml``
(or ``--study``), times it, writes its report to ``--out`` and prints the headline table:
per heterogeneity setting and mechanism, the final test accuracy and the participation of
each participant group, mean over seeds with 95% t-intervals, and which differences are
significant (paired by seed).

Run: ``python bench/incentives_study.py [--seeds N] [--out bench/results/incentives]``.
The first run of a seed also embeds its data split once (cached on disk afterwards); the
wall time printed says whether the cache was cold.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
from machine import model_name, simd_level

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.intervals import mean_interval, paired_difference  # noqa: E402
from agents.study import load_study, study  # noqa: E402


def _cell(values: pd.Series, digits: int = 3) -> str:
    mean, low, high = mean_interval(values.to_numpy())
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


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
        means = frame.groupby("mechanism")["final_test_accuracy"].mean().sort_values()
        for mechanism, rows in frame.groupby("mechanism", sort=False):
            rows = rows.sort_values("seed")
            cells = [_cell(rows["final_test_accuracy"])]
            cells += [_cell(rows[c], 2) for c in groups]
            cells.append(_cell(rows["social_welfare"], 0))
            lines.append(f"| {setting} | {mechanism} | " + " | ".join(cells) + " |")
        worst, best = means.index[0], means.index[-1]
        a = frame[frame["mechanism"] == best].sort_values("seed")["final_test_accuracy"]
        b = frame[frame["mechanism"] == worst].sort_values("seed")["final_test_accuracy"]
        diff, low, high = paired_difference(a.to_numpy(), b.to_numpy())
        sig = "significant" if low > 0 or high < 0 else "inside the noise"
        verdicts.append(
            f"- {setting}: best accuracy {best}, worst {worst}: difference {diff:+.3f} "
            f"[{low:+.3f}, {high:+.3f}] ({sig})"
        )
        for column, name in zip(groups, names, strict=True):
            share = frame.groupby("mechanism")[column].mean().sort_values()
            lo_m, hi_m = share.index[0], share.index[-1]
            a = frame[frame["mechanism"] == hi_m].sort_values("seed")[column]
            b = frame[frame["mechanism"] == lo_m].sort_values("seed")[column]
            diff, low, high = paired_difference(a.to_numpy(), b.to_numpy())
            sig = "significant" if low > 0 or high < 0 else "inside the noise"
            verdicts.append(
                f"  - {name} joined most under {hi_m}, least under {lo_m}: "
                f"{100 * diff:+.0f} points [{100 * low:+.0f}, {100 * high:+.0f}] ({sig})"
            )
    return lines + [""] + verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=str(ROOT / "examples/studies/incentives.toml"))
    parser.add_argument("--seeds", type=int, default=None, help="override: seeds 0..N-1")
    parser.add_argument("--out", default=str(ROOT / "bench/results/incentives"))
    args = parser.parse_args()
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
    print(f"Report, figures and tables: {args.out}")
    print()
    print("\n".join(headline(runs)))


if __name__ == "__main__":
    main()
