"""The price of privacy in the market (issue 29): how participation and pay change with
privacy sensitivity, under a mechanism that pays for privacy loss and one that does not.

Every run is the shipped ``differential_privacy`` example (MiniLM in head mode on the Amazon
reviews; 8 owners of 300 reviews, 5 rounds, secure aggregation with the trusted evaluator,
``[privacy.dp]`` epsilon 8 at delta 1e-5, clip 3, the noise solved so that the budget covers
scoring) with each owner's private price per unit of epsilon drawn around
``economics.privacy_price`` (log-normal, ``privacy_price_spread = 0.5``; 0: privacy costs
nothing). Arms:

* ``pooled_value`` (the default): pays verified value and covers *metered* costs; it cannot
  meter a private price, so it never pays for privacy;
* ``auction`` (Singer 2010's budget-feasible reverse auction): the privacy cost is part of
  each bid and a winner's escrow is its threshold price (Ghosh & Roth 2011), released
  against delivered value;
* each also ``+menu``: ``privacy.dp.menu = [1, 0.5, 0.25]``, each participant picking the clip
  factor that maximises its expected pay x factor less its privacy cost
  (:mod:`agents.privacy_economics`).

Per run (one row per metric in the CSV): participation (share of identity-rounds joined),
inclusion, pay and privacy cost per joined round, the share of the privacy cost that pay
beyond the other costs covered, the epsilon each identity spent (mean), the clip factor of
included updates, test accuracy, total paid. Every cell is a mean over seeds with a 95%
t-interval; differences are paired by seed (same data split) and reported as "no
difference" where their interval holds 0. Seeds share one loaded task per seed (its data
split), so the arms and prices of a seed are paired.

Writes ``bench/results/privacy_market.csv`` (tidy), ``privacy_market.png`` and
``privacy_market.md``; prints the markdown table.

    python -m bench.privacy_market [--seeds 10] [--prices 0 0.5 1 2 4 8] [--from-csv]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.intervals import NONE, mean_interval, paired_difference, verdict
from bench.machine import cpu_name

RESULTS = Path(__file__).with_name("results")
PRICES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
MENU = (1.0, 0.5, 0.25)
ARMS = {
    "pooled_value": ("pooled_value", ()),
    "pooled_value+menu": ("pooled_value", MENU),
    "auction": ("auction", ()),
    "auction+menu": ("auction", MENU),
}
"""Arm -> (mechanism, epsilon menu)."""
METRICS = {
    "participation": "joined (share of identity-rounds)",
    "included": "included (share of identity-rounds)",
    "pay_per_joined": "pay per joined round",
    "privacy_cost_per_joined": "privacy cost per joined round",
    "privacy_covered": "privacy cost covered by pay",
    "epsilon_mean": "epsilon spent (mean identity)",
    "clip_factor": "clip factor of included updates",
    "test_accuracy": "final test accuracy",
    "total_paid": "total paid",
}
TABLE = (
    "participation",
    "pay_per_joined",
    "privacy_cost_per_joined",
    "privacy_covered",
    "epsilon_mean",
    "clip_factor",
    "test_accuracy",
)
SPREAD = 0.5


def metrics(parts: pd.DataFrame, summary: dict[str, Any]) -> dict[str, float]:
    """One run's metrics from its participants table and summary."""
    joined = parts[parts["joined"]]
    included = parts[parts["included"]]
    n_joined = len(joined)
    other = included["cost"] - included["privacy_cost"]  # compute and data, the metered part
    beyond = (included["reward"] - other).clip(lower=0.0)
    covered = np.minimum(beyond, included["privacy_cost"]).sum()
    privacy = float(included["privacy_cost"].sum())
    return {
        "participation": float(parts["joined"].mean()),
        "included": float(parts["included"].mean()),
        "pay_per_joined": float(joined["reward"].sum() / n_joined) if n_joined else math.nan,
        "privacy_cost_per_joined": (
            float(joined["privacy_cost"].sum() / n_joined) if n_joined else math.nan
        ),
        "privacy_covered": float(covered / privacy) if privacy > 0 else math.nan,
        "epsilon_mean": float(summary["dp_epsilon_mean"]),
        "clip_factor": float(included["dp_clip_factor"].mean()) if len(included) else math.nan,
        "test_accuracy": float(summary["final_test_accuracy"]),
        "total_paid": float(summary["total_paid"]),
    }


def run_all(seeds: int, prices: list[float], rounds: int | None) -> pd.DataFrame:
    """Every arm x price x seed; one tidy row per run and metric."""
    from agents import MarketModel, run
    from agents.scenario import load_example

    base = load_example("differential_privacy").replace("economics.privacy_price_spread", SPREAD)
    if rounds is not None:
        base = base.replace("rounds", rounds)
    rows = []
    started = time.perf_counter()
    for seed in range(seeds):
        seeded = base.replace("seed", seed)
        task = MarketModel(seeded).task  # this seed's data split, shared by its runs
        for arm, (mechanism, menu) in ARMS.items():
            for price in prices:
                s = (
                    seeded.replace("market.mechanism", mechanism)
                    .replace("privacy.dp.menu", list(menu))
                    .replace("economics.privacy_price", price)
                )
                result = run(s, model=MarketModel(s, task=task))
                for metric, value in metrics(result.participants, result.summary).items():
                    rows.append(
                        {
                            "arm": arm,
                            "mechanism": mechanism,
                            "menu": bool(menu),
                            "privacy_price": price,
                            "seed": seed,
                            "metric": metric,
                            "value": value,
                        }
                    )
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return pd.DataFrame(rows)


def _values(frame: pd.DataFrame, arm: str, price: float, metric: str) -> pd.Series:
    """One cell's values, indexed by seed."""
    cell = frame[
        (frame["arm"] == arm) & (frame["privacy_price"] == price) & (frame["metric"] == metric)
    ]
    return cell.set_index("seed")["value"].sort_index()


def _fmt(values: pd.Series, digits: int) -> str:
    mean, low, high = mean_interval(values.to_numpy())
    if math.isnan(mean):
        return "n/a"
    if math.isnan(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


DIGITS = {
    "participation": 2,
    "privacy_covered": 2,
    "test_accuracy": 3,
    "epsilon_mean": 2,
    "clip_factor": 2,
}


def table(frame: pd.DataFrame) -> str:
    """The markdown table: per arm and mean privacy price, the :data:`TABLE` metrics."""
    head = "| arm | privacy price | " + " | ".join(METRICS[m] for m in TABLE) + " |"
    lines = [head, "|---|---|" + "---|" * len(TABLE)]
    for arm in dict.fromkeys(frame["arm"]):
        for price in sorted(frame["privacy_price"].unique()):
            cells = [_fmt(_values(frame, arm, price, m), DIGITS.get(m, 1)) for m in TABLE]
            lines.append(f"| {arm} | {price:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _difference(frame: pd.DataFrame, a: tuple[str, float], b: tuple[str, float], m: str) -> str:
    x, y = _values(frame, *a, m), _values(frame, *b, m)
    x, y = x.align(y, join="inner")
    diff, low, high = paired_difference(x.to_numpy(), y.to_numpy())
    word = "no difference" if verdict(low, high) == NONE else "significant"
    return f"{diff:+.3g} [{low:+.3g}, {high:+.3g}] ({word})"


def findings(frame: pd.DataFrame) -> list[str]:
    """Paired differences: the price's effect within each arm, auction vs pooled_value at
    each price, and the menu's effect on epsilon and participation."""
    prices = sorted(frame["privacy_price"].unique())
    arms = list(dict.fromkeys(frame["arm"]))
    low_price, top = prices[0], prices[-1]
    out = []
    for arm in arms:
        for m in ("participation", "pay_per_joined"):
            out.append(
                f"- {arm}: {METRICS[m]} at price {top:g} minus at {low_price:g}: "
                + _difference(frame, (arm, top), (arm, low_price), m)
            )
    if {"auction", "pooled_value"} <= set(arms):
        for price in prices:
            for m in ("participation", "pay_per_joined", "privacy_covered"):
                out.append(
                    f"- price {price:g}: auction minus pooled_value, {METRICS[m]}: "
                    + _difference(frame, ("auction", price), ("pooled_value", price), m)
                )
    for mechanism in ("pooled_value", "auction"):
        if f"{mechanism}+menu" not in arms or mechanism not in arms:
            continue
        for price in prices[1:]:
            for m in ("clip_factor", "epsilon_mean", "participation"):
                out.append(
                    f"- price {price:g}: {mechanism} with the menu minus without, {METRICS[m]}: "
                    + _difference(frame, (f"{mechanism}+menu", price), (mechanism, price), m)
                )
    return out


def plot(frame: pd.DataFrame, path: Path, caption: str) -> None:
    """Four panels against the mean privacy price: participation, pay per joined round,
    epsilon spent, test accuracy; one line per arm with 95% t intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ("participation", "pay_per_joined", "epsilon_mean", "test_accuracy")
    units = {"pay_per_joined": " (budget units)", "epsilon_mean": " (delta = 1e-5)"}
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    prices = sorted(frame["privacy_price"].unique())
    positive = [p for p in prices if p > 0]
    zero_at = positive[0] / 2 if positive else 1.0  # price 0 drawn left of the smallest
    where = {p: (zero_at if p == 0 else p) for p in prices}
    arms = list(dict.fromkeys(frame["arm"]))
    for ax, metric in zip(axes.ravel(), panels, strict=True):
        for i, arm in enumerate(arms):
            dodge = 1 + 0.04 * (i - (len(arms) - 1) / 2)
            stats = [mean_interval(_values(frame, arm, p, metric).to_numpy()) for p in prices]
            mean, low, high = (np.array(v, dtype=float) for v in zip(*stats, strict=True))
            err = np.nan_to_num(np.vstack([mean - low, high - mean]))
            x = [where[p] * dodge for p in prices]
            style = "--" if arm.endswith("+menu") else "-"
            ax.errorbar(x, mean, yerr=err, marker="o", capsize=3, linestyle=style, label=arm)
        ax.set_xscale("log", base=2)
        ax.set_xticks([where[p] for p in prices], [f"{p:g}" for p in prices])
        ax.set_xlabel("mean privacy price (budget units per epsilon)")
        ax.set_ylabel(METRICS[metric] + units.get(metric, ""))
        ax.legend(fontsize=7)
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per cell")
    parser.add_argument("--prices", type=float, nargs="+", default=list(PRICES))
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default: 5)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--from-csv", action="store_true", help="redraw the table and plot from the CSV"
    )
    args = parser.parse_args()
    csv = args.out / "privacy_market.csv"
    started = time.perf_counter()
    if args.from_csv:
        frame = pd.read_csv(csv)
        seconds = math.nan
    else:
        frame = run_all(args.seeds, args.prices, args.rounds)
        seconds = time.perf_counter() - started
    seeds = frame["seed"].nunique()
    runs = len(frame.drop_duplicates(["arm", "privacy_price", "seed"]))
    took = "" if math.isnan(seconds) else f"; {runs} runs in {seconds:.0f} s"
    note = (
        f"The `differential_privacy` example (MiniLM head mode, 8 x 300 reviews, 5 rounds, "
        f"epsilon 8 at delta 1e-5 under secure aggregation), owners' privacy prices log-normal "
        f"around the mean (spread {SPREAD}); {seeds} seeds per cell (paired by seed), mean "
        f"[95% t interval]. `privacy cost covered by pay`: the share of the included rounds' "
        f"privacy cost that pay beyond the other costs covered (n/a: no privacy cost). "
        f"CPU: {cpu_name()}{took}."
    )
    text = table(frame)
    found = "\n".join(findings(frame))
    print(note)
    print(text)
    print(found)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.from_csv:
        frame.to_csv(csv, index=False)
    caption = (
        f"Privacy in the market: mean and 95% t interval over {seeds} seeds; pooled_value "
        "never pays for privacy, the auction reimburses it through the bids"
    )
    plot(frame, args.out / "privacy_market.png", caption)
    (args.out / "privacy_market.md").write_text(
        "# The price of privacy in the market (written by `python -m bench.privacy_market`)"
        f"\n\n{note}\n\n{text}\n\nPaired differences (95% t interval):\n\n{found}\n"
    )


if __name__ == "__main__":
    main()
