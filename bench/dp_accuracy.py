"""What client-level DP costs in accuracy, by market size and by what the budget covers
(issue 29's target: test accuracy at epsilon = 8 within 3 points of no DP, head mode).

The default task (MiniLM in head mode on the Amazon reviews, 5 rounds, clear updates, the
default ``pooled_value`` market) with ``n`` owners sharing 3,000 reviews (at most 300 each)
and no private cost (everyone joins every round, so only DP moves accuracy), run without DP
and with ``[privacy.dp]`` (clip 3, delta 1e-5) at each epsilon, the noise solved so that the
budget covers

* ``scoring``: Shapley-style scoring's coalition sums determine each noised update, so each
  client's own share must protect it (the default; every participant spends the target), or
* ``model``: the model's sum alone (the tables then show what scoring spent on top), or
* ``split``: scoring gets its own, larger noise shares and 20% of the budget
  (``privacy.dp.scoring_share = 0.2``), the model's shares the rest.

Writes ``bench/results/dp_accuracy.csv`` (one row per run) and ``dp_accuracy.md`` (mean
and 95% t interval over seeds of the test accuracy, its gap to no DP on the same seeds, and
the largest epsilon spent); prints the table.

    python -m bench.dp_accuracy [--seeds 5] [--sizes 6 48] [--epsilons 2 8] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from bench.machine import cpu_summary

RESULTS = Path(__file__).with_name("results")
POOL = 3000
SPLIT = 0.2
"""Scoring's share of the budget in the ``split`` rows."""
COVERS = ("scoring", "model", "split")


def scenario(n: int, seed: int, epsilon: float, covers: str) -> Any:
    """The default task with ``n`` owners, DP at ``epsilon`` (``inf``: off)."""
    from agents.scenario import ParticipantGroup, Scenario
    from agents.scenario.dp_section import DPSection

    base = Scenario().replace("model.mode", "head").replace("seed", seed)
    group = ParticipantGroup("honest", count=n, data_size=min(300, POOL // n), cost=0.0)
    base = dataclasses.replace(base, participants=(group,))
    if math.isinf(epsilon):
        return base
    share = SPLIT if covers == "split" else 0.0
    dp = DPSection(
        enabled=True,
        epsilon=epsilon,
        clip=3.0,
        budget_covers="scoring" if covers == "split" else covers,
        scoring_share=share,
    )
    return dataclasses.replace(base, privacy=dataclasses.replace(base.privacy, dp=dp))


def one_run(n: int, seed: int, epsilon: float, covers: str) -> dict[str, Any]:
    from agents import run

    started = time.perf_counter()
    result = run(scenario(n, seed, epsilon, covers))
    return {
        "owners": n,
        "covers": covers if math.isfinite(epsilon) else "-",
        "epsilon": epsilon,
        "seed": seed,
        "test_accuracy": result.summary["final_test_accuracy"],
        "epsilon_spent": result.summary["dp_epsilon"],
        "seconds": time.perf_counter() - started,
    }


def interval(values: pd.Series) -> str:
    """``mean [low, high]``: the 95% t interval over seeds."""
    x = values.to_numpy(dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return f"{mean:.3f}"
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}]"


def table(frame: pd.DataFrame) -> str:
    """The markdown table: accuracy, its paired gap to no DP, and the epsilon spent."""
    plain = frame[frame["covers"] == "-"].set_index(["owners", "seed"])["test_accuracy"]
    rows = [
        "| owners | budget covers | epsilon | test accuracy | gap to no DP (points) | "
        "epsilon spent (max) |",
        "|---|---|---|---|---|---|",
    ]
    for (n, covers, eps), runs in frame.groupby(["owners", "covers", "epsilon"], sort=True):
        gap = 100 * (runs.set_index(["owners", "seed"])["test_accuracy"] - plain).dropna()
        shown_gap = "-" if covers == "-" else interval(gap).replace("[", "[").strip()
        spent = "-" if covers == "-" else f"{runs['epsilon_spent'].max():.2f}"
        name = "inf (no DP)" if math.isinf(eps) else f"{eps:g}"
        rows.append(
            f"| {n} | {covers} | {name} | {interval(runs['test_accuracy'])} | {shown_gap} | "
            f"{spent} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 48])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[2.0, 8.0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 6 owners, epsilon 8")
    parser.add_argument("--name", default="dp_accuracy", help="results file name (no suffix)")
    args = parser.parse_args()
    seeds, sizes, epsilons = range(args.seeds), args.sizes, args.epsilons
    if args.quick:
        seeds, sizes, epsilons = range(2), [6], [8.0]
    from tqdm import tqdm

    plan = [(n, s, math.inf, "-") for n in sizes for s in seeds]
    plan += [(n, s, e, c) for n in sizes for s in seeds for e in epsilons for c in COVERS]
    started = time.perf_counter()
    rows = [one_run(*job) for job in tqdm(plan, desc="dp accuracy runs")]
    frame = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    text = (
        f"{table(frame)}\n\nCPU: {cpu_summary()}; {len(plan)} runs in "
        f"{time.perf_counter() - started:.0f} s (`python -m bench.dp_accuracy`).\n"
    )
    if not args.quick:
        frame.to_csv(RESULTS / f"{args.name}.csv", index=False)
        (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
