"""What differential privacy buys against membership inference (issue 29): an audit curve.

For each privacy budget epsilon (``inf``: DP off) and seed, one run of the shipped
``differential_privacy`` example (MiniLM in head mode on the Amazon reviews, secure
aggregation, trusted evaluator, ``[privacy.dp]`` clip 3, delta 1e-5, the noise solved so that
the budget covers scoring) is audited by :func:`agents.membership_audit.audit_run`: the
loss-threshold attack (Yeom et al. 2018) and LiRA (Carlini et al. 2022) with shadow models
trained by the run's own procedure (its DP-FedAvg noise included), on the members' examples
against as many never-trained ones. Two markets:

* ``default``: the example as it ships, 8 owners of 300 reviews, 5 rounds, 3.2 samples/s
  (a client sees 192 samples a round);
* ``small``: 4 owners of 50 reviews with compute to spare (8 local epochs a round): a
  federation that overfits, where an attack has something to find.

Writes ``bench/results/dp_curve.csv`` (one row per setting x epsilon x seed x attack),
``dp_curve.png`` (mean and 95% t interval over seeds) and ``dp_curve.md``; prints the table.

    python -m bench.membership [--seeds 10] [--rounds R] [--quick] [--settings default small]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.machine import cpu_name

RESULTS = Path(__file__).with_name("results")
EPSILONS = (math.inf, 1.0, 2.0, 4.0, 8.0, 16.0)
ATTACKS = {"loss_threshold": "loss threshold", "lira": "LiRA"}


def settings(rounds: int | None) -> dict[str, Any]:
    """The audited markets (see the module docstring), with ``rounds`` if given."""
    from agents.scenario import ParticipantGroup, load_example

    base = load_example("differential_privacy")
    small = dataclasses.replace(
        base, participants=(ParticipantGroup("honest", count=4, data_size=50, speed=1000.0),)
    ).replace("train.local_epochs", 8.0)
    markets = {"default": base, "small": small}
    if rounds is not None:
        markets = {k: v.replace("rounds", rounds) for k, v in markets.items()}
    return markets


def one_run(scenario: Any, epsilon: float, seed: int, shadows: int) -> list[dict[str, Any]]:
    """Run ``scenario`` at ``epsilon`` and ``seed`` and audit it; one row per attack."""
    from agents import MarketModel, run
    from agents.membership_audit import audit_run

    s = scenario.replace("seed", seed)
    s = (
        s.replace("privacy.dp.enabled", False)
        if math.isinf(epsilon)
        else s.replace("privacy.dp.enabled", True).replace("privacy.dp.epsilon", epsilon)
    )
    started = time.perf_counter()
    model = MarketModel(s)
    result = run(s, model=model)
    ran = time.perf_counter() - started
    # the same audit stream for every epsilon of a seed: the same records are attacked
    frame = audit_run(model, rng=np.random.default_rng(seed), shadows=shadows)
    common = {
        "epsilon": epsilon,
        "seed": seed,
        "test_accuracy": result.summary["final_test_accuracy"],
        "majority_rate": result.summary["majority_test_rate"],
        "epsilon_spent": result.summary.get("dp_epsilon", 0.0),
        "noise_multiplier": 0.0 if model.plan.dp is None else model.plan.dp.noise_multiplier,
        "run_seconds": ran,
        "audit_seconds": time.perf_counter() - started - ran,
    }
    return [{**common, **row} for row in frame.to_dict("records")]


def interval(values: pd.Series) -> tuple[float, float, float]:
    """Mean and a two-sided 95% Student-t interval (``nan`` bounds for one value)."""
    from scipy import stats

    data = values.dropna().to_numpy(dtype=np.float64)
    mean = float(data.mean()) if data.size else math.nan
    if data.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    return mean, mean - half, mean + half


def fmt(values: pd.Series) -> str:
    mean, low, high = interval(values)
    return f"{mean:.3f}" if math.isnan(low) else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def label(epsilon: float) -> str:
    return "inf (no DP)" if math.isinf(epsilon) else f"{epsilon:g}"


def table(frame: pd.DataFrame) -> str:
    """The markdown table: per setting and epsilon, accuracy and each attack's numbers."""
    head = (
        "| setting | epsilon | spent (max) | test accuracy | loss AUC | LiRA AUC "
        "| LiRA TPR @ 1% FPR | LiRA TPR @ 10% FPR |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for (setting, epsilon), cell in frame.groupby(["setting", "epsilon"], sort=False):
        runs = cell.drop_duplicates("seed")
        loss, lira = (cell[cell["attack"] == a] for a in ATTACKS)
        spent = "-" if math.isinf(epsilon) else f"{runs['epsilon_spent'].max():.2f}"
        lines.append(
            f"| {setting} | {label(epsilon)} | {spent} | {fmt(runs['test_accuracy'])} "
            f"| {fmt(loss['auc'])} | {fmt(lira['auc'])} | {fmt(lira['tpr_at_fpr_0.01'])} "
            f"| {fmt(lira['tpr_at_fpr_0.1'])} |"
        )
    return "\n".join(lines)


def plot(frame: pd.DataFrame, path: Path, caption: str) -> None:
    """AUC (both attacks) and test accuracy against epsilon, one row per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = sorted(e for e in frame["epsilon"].unique() if not math.isinf(e))
    no_dp_at = (finite[-1] * 2.0) if finite else 1.0
    where = {e: (no_dp_at if math.isinf(e) else e) for e in frame["epsilon"].unique()}
    names = list(dict.fromkeys(frame["setting"]))
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 3.6 * len(names)), squeeze=False)
    for row, setting in enumerate(names):
        data = frame[frame["setting"] == setting]
        auc_ax, acc_ax = axes[row]
        for dodge, (attack, name) in zip((0.94, 1.06), ATTACKS.items(), strict=True):
            rows = data[data["attack"] == attack]
            _curve(auc_ax, rows, "auc", {e: x * dodge for e, x in where.items()}, name)
        auc_ax.axhline(0.5, color="grey", linestyle=":", label="chance")
        auc_ax.set_ylabel("membership AUC")
        runs = data.drop_duplicates(["epsilon", "seed"])
        _curve(acc_ax, runs, "test_accuracy", where, "final global model")
        acc_ax.axhline(
            float(runs["majority_rate"].mean()), color="grey", linestyle=":", label="majority"
        )
        acc_ax.set_ylabel("test accuracy")
        acc_ax.set_ylim(0.0, 1.0)
        for ax in (auc_ax, acc_ax):
            ax.set_xscale("log", base=2)
            ticks = [*finite, no_dp_at] if finite else [no_dp_at]
            ax.set_xticks(ticks, [*(f"{e:g}" for e in finite), "no DP"])
            ax.set_xlabel("privacy budget epsilon (delta = 1e-5)")
            ax.set_title(f"{setting}", fontsize=10)
            ax.legend(fontsize=8)
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _curve(ax: Any, rows: pd.DataFrame, column: str, where: dict[float, float], name: str) -> None:
    stats = [(where[e], *interval(g[column])) for e, g in rows.groupby("epsilon")]
    stats.sort()
    x, mean, low, high = (np.array(v, dtype=float) for v in zip(*stats, strict=True))
    err = np.vstack([mean - low, high - mean])
    ax.errorbar(x, mean, yerr=np.nan_to_num(err), marker="o", capsize=3, label=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per cell")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default: 5)")
    parser.add_argument("--epsilons", type=float, nargs="+", default=list(EPSILONS))
    parser.add_argument("--settings", nargs="+", default=["default", "small"])
    parser.add_argument("--shadows", type=int, default=16, help="LiRA shadow models")
    parser.add_argument("--quick", action="store_true", help="2 seeds, epsilon inf/1/16, 8 shadows")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.epsilons, args.shadows = 2, [math.inf, 1.0, 16.0], 8
    markets = settings(args.rounds)
    unknown = sorted(set(args.settings) - set(markets))
    if unknown:
        parser.error(f"--settings: unknown {unknown}; use {sorted(markets)}")
    started = time.perf_counter()
    rows = []
    for setting in args.settings:
        for seed in range(args.seeds):
            for epsilon in args.epsilons:
                for row in one_run(markets[setting], epsilon, seed, args.shadows):
                    rows.append({"setting": setting, **row})
                print(
                    f"{setting} seed {seed} epsilon {label(epsilon)}: "
                    f"{time.perf_counter() - started:.0f} s",
                    flush=True,
                )
    seconds = time.perf_counter() - started
    frame = pd.DataFrame(rows)
    rounds = {s: markets[s].rounds for s in args.settings}
    note = (
        f"{args.seeds} seeds (0-{args.seeds - 1}) per cell, rounds {rounds}, {args.shadows} "
        f"LiRA shadows; mean [95% t interval] over seeds; `spent`: the largest epsilon any "
        f"participant spent (accounted from the releases). CPU: {cpu_name()}; "
        f"{seconds:.0f} s in all."
    )
    text = table(frame)
    print(note)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "dp_curve.csv", index=False)
    caption = (
        f"Membership inference vs DP: MiniLM head mode, mean and 95% t interval over "
        f"{args.seeds} seeds; AUC 0.5 = the attacker learns nothing"
    )
    plot(frame, args.out / "dp_curve.png", caption)
    (args.out / "dp_curve.md").write_text(
        "# What DP buys against membership inference (written by `python -m bench.membership`)"
        f"\n\n{note}\n\n{text}\n"
    )


if __name__ == "__main__":
    main()
