"""Does pay follow value? Issue 25's targets, mechanism by mechanism, side by side.

Three markets on MiniLM in head mode (default ``[market]`` otherwise, 3 rounds, one shared
task, the same seeds for every mechanism):

* ``identical``: the default scenario, six statistically identical owners of 300 reviews:
  the coefficient of variation of their run pay (target <= 0.15);
* ``graded``: four IID owners of 100/200/400/800 reviews: mean pay by size (target:
  non-decreasing), Spearman of pay with data size and with the run's own valuation;
* ``mixed``: four honest owners, a label-flipper (``noisy``), a sign-flipper, a boosted
  poisoner and a subtle one (update x -0.3): the share of pay to the poisoners, whether
  each poisoner earns less than every clean honest owner, and clean-honest IR (run pay >=
  run cost);
* ``demo``: the default scenario as it ships (six owners of 300 reviews, 5 rounds), in head
  mode: the coefficient of variation of run pay and Pearson(run pay, the run's valuation),
  the summed ``contribution`` column (the mechanism's own valuation: Banzhaf for the
  value-based rules, the scenario's Shapley scoring for ``banzhaf_cover``);

and per round: the share of the budget paid against the round's validation-loss gain.
Every cell is a mean over seeds with a 95% t interval. Writes
``bench/results/value_pay.md``.

    python -m bench.value_pay [--seeds 20] [--mechanisms banzhaf_cover verified_value:500]

A mechanism written ``name:K`` runs with ``data.utility_subset = K`` validation examples
(the default is 128; ``verified_value``'s standard errors shrink with more), ``name:K:C``
also with ``market.confidence = C``, and ``name:K:C:B`` (``C`` may be empty) with
``market.incentive_power = B`` (``pooled_value``'s share of one's own deviation).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.machine import cpu_name

RESULTS = Path(__file__).with_name("results") / "value_pay.md"


def interval(values: list[float]) -> str:
    """``mean [low, high]`` with a 95% t interval (NaNs dropped)."""
    from scipy import stats

    data = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if data.size == 0:
        return "n/a"
    mean = float(data.mean())
    if data.size < 2:
        return f"{mean:.3g}"
    half = float(stats.t.ppf(0.975, data.size - 1) * data.std(ddof=1) / np.sqrt(data.size))
    return f"{mean:.3g} [{mean - half:.3g}, {mean + half:.3g}]"


def scenarios() -> dict[str, object]:
    from agents import Scenario
    from agents.scenario import ParticipantGroup

    base = Scenario(name="value_pay", rounds=3).replace("model.mode", "head")
    honest = base.participants[0]
    from dataclasses import replace

    graded = tuple(
        replace(honest, name=f"size{size}", count=1, data_size=size)
        for size in (100, 200, 400, 800)
    )
    mixed = (
        replace(honest, count=4),
        replace(honest, name="noisy", count=1, strategy="noisy", flip_rate=1.0),
        ParticipantGroup(
            name="sign_flip", count=1, data_size=300, strategy="poisoner", poison_scale=-1.0
        ),
        ParticipantGroup(
            name="boost_x3", count=1, data_size=300, strategy="poisoner", poison_scale=3.0
        ),
        ParticipantGroup(
            name="subtle", count=1, data_size=300, strategy="poisoner", poison_scale=-0.3
        ),
    )
    return {
        "identical": base,
        "graded": replace(base, participants=graded),
        "mixed": replace(base, participants=mixed),
        "demo": Scenario(name="value_pay_demo").replace("model.mode", "head"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--mechanisms",
        nargs="+",
        default=["pooled_value", "banzhaf_cover", "verified_value", "verified_value:500:0.84"],
    )
    args = parser.parse_args()

    from scipy import stats

    from agents.model import MarketModel
    from agents.run import run

    markets = scenarios()
    task = MarketModel(markets["identical"]).task  # type: ignore[arg-type]
    started = time.perf_counter()
    rows: dict[str, dict[str, list[float]]] = {}
    for mechanism in args.mechanisms:
        cells: dict[str, list[float]] = {}
        rows[mechanism] = cells

        def add(name: str, value: float, cells: dict[str, list[float]] = cells) -> None:
            cells.setdefault(name, []).append(float(value))

        for seed in range(args.seeds):
            results = {}
            name, *settings = mechanism.split(":")
            for label, scenario in markets.items():
                s = scenario.replace("market.mechanism", name).replace("seed", seed)  # type: ignore[attr-defined]
                if settings:
                    s = s.replace("data.utility_subset", int(settings[0]))
                if len(settings) > 1 and settings[1]:
                    s = s.replace("market.confidence", float(settings[1]))
                if len(settings) > 2:
                    s = s.replace("market.incentive_power", float(settings[2]))
                results[label] = run(s, model=MarketModel(s, task=task))
            pay = results["identical"].participants.groupby("participant")["reward"].sum()
            add(
                "identical: CV of run pay",
                float(pay.std(ddof=0) / pay.mean()) if pay.mean() > 0 else np.nan,
            )
            luck = results["identical"].participants.groupby("participant")["contribution"].sum()
            add(
                "identical: CV of the run valuation (their luck)",
                float(luck.std(ddof=0) / abs(luck.mean())) if luck.mean() != 0 else np.nan,
            )
            graded = results["graded"].participants
            by_owner = graded.groupby("group").agg(
                pay=("reward", "sum"), value=("contribution", "sum")
            )
            sizes = np.array([int(g[4:]) for g in by_owner.index])
            order = np.argsort(sizes)
            pays = by_owner["pay"].to_numpy()[order]
            values = by_owner["value"].to_numpy()[order]
            for size, p in zip(sizes[order], pays, strict=True):
                add(f"graded: pay at {size}", p)
            for size, v in zip(sizes[order], values, strict=True):
                add(f"graded: run valuation at {size}", v)
            add("graded: adjacent steps down (of 3)", float(np.sum(np.diff(pays) < 0)))
            add("graded: Spearman(pay, size)", stats.spearmanr(pays, sizes[order]).statistic)
            add(
                "graded: Spearman(pay, run valuation)",
                stats.spearmanr(by_owner["pay"], by_owner["value"]).statistic,
            )
            mixed = results["mixed"].participants
            owners = mixed.groupby("group").agg(pay=("reward", "sum"), cost=("cost", "sum"))
            per_identity = mixed.groupby(["group", "participant"]).agg(
                pay=("reward", "sum"), cost=("cost", "sum")
            )
            honest = per_identity.loc["honest"]
            total = float(owners["pay"].sum())
            poisoners = ["sign_flip", "boost_x3", "subtle"]
            add(
                "mixed: poisoners' share of pay",
                float(owners.loc[poisoners, "pay"].sum() / total) if total > 0 else 0.0,
            )
            add(
                "mixed: label-flipper's share",
                float(owners.loc["noisy", "pay"] / total) if total > 0 else 0.0,
            )
            below = all(
                float(owners.loc[g, "pay"] - owners.loc[g, "cost"])
                < float((honest["pay"] - honest["cost"]).min())
                for g in poisoners
            )
            add("mixed: every poisoner below every honest (share of seeds)", float(below))
            level = all(
                float(owners.loc[g, "pay"] - owners.loc[g, "cost"])
                <= float((honest["pay"] - honest["cost"]).min()) + 1e-9
                for g in poisoners
            )
            add("mixed: every poisoner at or below every honest (share of seeds)", float(level))
            profit = (owners["pay"] - owners["cost"]).clip(lower=0.0)
            add(
                "mixed: poisoners' share of profit (pay beyond cost)",
                float(profit[poisoners].sum() / profit.sum()) if profit.sum() > 0 else 0.0,
            )
            add(
                "mixed: honest IR (share paid >= cost)",
                float(np.mean(honest["pay"] >= honest["cost"] - 1e-9)),
            )
            demo = (
                results["demo"]
                .participants.groupby("participant")
                .agg(pay=("reward", "sum"), value=("contribution", "sum"))
            )
            add(
                "demo: CV of run pay",
                float(demo["pay"].std(ddof=0) / demo["pay"].mean())
                if demo["pay"].mean() > 0
                else np.nan,
            )
            add(
                "demo: Pearson(pay, run valuation)",
                float(np.corrcoef(demo["pay"], demo["value"])[0, 1])
                if demo["pay"].std() > 0
                else np.nan,
            )
            rounds = results["identical"].rounds.iloc[1:]
            gains = -np.diff(results["identical"].rounds["val_loss"].to_numpy())
            for r, (paid, gain) in enumerate(zip(rounds["budget_paid"], gains, strict=True), 1):
                add(f"identical: round {r} paid (val-loss gain)", paid)
                add(f"identical: round {r} val-loss gain", gain)
    seconds = time.perf_counter() - started
    names = list(next(iter(rows.values())))
    header = "| metric | " + " | ".join(rows) + " |\n|---|" + "---|" * len(rows)
    lines = [header]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(interval(rows[m][name]) for m in rows) + " |")
    table = "\n".join(lines)
    note = (
        f"Seeds 0-{args.seeds - 1}, 3 rounds, head mode on MiniLM, default `[market]` but the "
        f"mechanism (`name:K[:C]`: K validation examples score the round instead of 128, "
        f"and the confidence level is C instead of 0.95); mean "
        f"[95% t interval] over seeds. CPU: {cpu_name()}; {seconds:.0f} s."
    )
    print(note)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        "# Does pay follow value? (written by `python -m bench.value_pay`)\n\n"
        + note
        + "\n\n"
        + table
        + "\n"
    )


if __name__ == "__main__":
    main()
