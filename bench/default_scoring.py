"""The default scoring method at the default budget vs exact Shapley, and the surrogate vs
shapiq on weighted voting (threshold) games.

Run: ``python -m bench.default_scoring`` (about a minute on 2 cores; ``--quick`` for less).

1. ``market.scoring.DEFAULT_METHOD`` at ``DEFAULT_BUDGET``: relative L2 error vs exact on the
   recorded MiniLM round tables (``bench/data``, via ``bench.shapley_games.minilm_tables``)
   and on head-mode-like games (FedAvg of ridge heads, ``bench.shapley_games.fedavg_table``)
   at n = 6..10; the null player's value and whether efficiency holds. Also the same
   method below ``2**n`` (sampling), to show what the sampler alone gives.
2. The default above 10 identities (``--large``, on by default): ``DEFAULT_METHOD`` at
   ``DEFAULT_BUDGET`` vs every shapiq SV approximator and our permutation sampler (the
   default before) at the same budget, on weighted voting and FL-like games (exponential
   and power links) with n = 12 and 14 (25% and 6% of the coalitions): median relative L2
   error with a 95% bootstrap interval and the paired difference to shapiq's best.
3. Weighted voting games (n = 10, a null player and two equal weights; 8 games x 3 seeds by
   default): relative L2 error of our surrogate (control variate, the default) vs every
   shapiq SV approximator at 15% and 30% of the coalitions: median with a 95% bootstrap
   interval, mean, each one's largest null-player share ``|phi_null| / max|phi|``, and the
   paired difference to shapiq's best. ``--ablation`` adds the surrogate's samplers forced
   (walks, strata) and the walks without the additive baseline.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import market
from bench.machine import model_name, simd_short
from bench.shapley_games import (
    Estimator,
    fedavg_table,
    minilm_tables,
    ours,
    relative_error,
    shapiq_estimators,
    single_blas_thread,
)
from market.games import WeightedVotingGame, fl_game
from market.scoring import DEFAULT_BUDGET, DEFAULT_METHOD


def default_rows(seeds: int) -> list[str]:
    rows = [
        f"### `{DEFAULT_METHOD}` at the default budget {DEFAULT_BUDGET}",
        "",
        "| game | n | budget | median rel. L2 error | max | max stderr ratio | null |phi| |"
        " efficiency gap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cases: list[tuple[str, np.ndarray]] = []
    for k, table in enumerate(minilm_tables() or []):
        cases.append((f"minilm round {k}", table))
    for n in range(6, 11):
        for k in range(3):
            cases.append(
                (f"fedavg-ridge n={n} #{k}", fedavg_table(n, np.random.default_rng(1000 + k)))
            )
    for label, table in cases:
        n = int(table.size).bit_length() - 1
        truth = market.shapley_from_table(table)
        for budget in (DEFAULT_BUDGET, 2 ** (n - 1)):
            errs, stderr_ratio, gaps = [], [], []
            for seed in range(seeds):
                est = market.estimate(
                    table, n, DEFAULT_METHOD, budget=budget, rng=np.random.default_rng(seed)
                )
                errs.append(relative_error(est.values, truth))
                stderr_ratio.append(est.relative_stderr)
                gaps.append(abs(est.values.sum() - (table[-1] - table[0])))
            null = abs(est.values[-1]) if "fedavg" in label else float("nan")
            rows.append(
                f"| {label} | {n} | {budget} | {np.median(errs):.4f} | {max(errs):.4f} | "
                f"{max(stderr_ratio):.3f} | {null:.1e} | {max(gaps):.1e} |"
            )
    rows += [
        "",
        "fedavg-ridge: the last client sends a garbage update (not exactly null: FedAvg still "
        "weights it). Rows with budget 2^(n-1) run the unbiased sampler (not the default).",
        "",
    ]
    return rows


def voting_tables(instances: int, n: int = 10, first_seed: int = 2000) -> list[np.ndarray]:
    """Weighted voting games: weights 1..9, a null player (weight 0), two equal weights,
    quota 50-70% of the total weight. Game seeds from 2000 (3000+ are for tuning)."""
    out = []
    for k in range(instances):
        rng = np.random.default_rng(first_seed + k)
        w = rng.integers(1, 10, n)
        w[-1], w[-2] = 0, w[0]
        quota = int(rng.uniform(0.5, 0.7) * w.sum()) + 1
        out.append(WeightedVotingGame(tuple(int(v) for v in w), quota).table())
    return out


def voting_runners(ablation: bool) -> tuple[dict[str, Estimator], str]:
    """Our estimators (the default surrogate; with ``ablation`` also its earlier settings)
    and every shapiq SV approximator but SPEX."""
    runners: dict[str, Estimator] = {
        "ours:surrogate (default: focused below 20% of 2^n, strata from)": ours("surrogate"),
    }
    if ablation:
        runners["ours:surrogate (walks)"] = ours("surrogate", sampler="walks")
        runners["ours:surrogate (strata)"] = ours("surrogate", sampler="strata")
        runners["ours:surrogate (strata, null checks)"] = ours(
            "surrogate", sampler="strata", check_per_null=2
        )
        runners["ours:surrogate (walks, no baseline: beta G)"] = ours(
            "surrogate", sampler="walks", baseline="none"
        )
    runners["ours:permutation"] = ours("permutation")
    theirs, version = shapiq_estimators()
    runners.update({k: v for k, v in theirs.items() if "SPEX" not in k})
    return runners, version


def spread(errors: np.ndarray, rng: np.random.Generator, draws: int = 2000) -> tuple[float, float]:
    """A 95% bootstrap interval of the median (resampling games x seeds)."""
    picks = rng.integers(0, len(errors), (draws, len(errors)))
    medians = np.median(errors[picks], axis=1)
    return float(np.quantile(medians, 0.025)), float(np.quantile(medians, 0.975))


def voting_rows(instances: int, seeds: int, n: int = 10, ablation: bool = False) -> list[str]:
    """Relative L2 error per estimator at 15% and 30% of ``2**n`` on ``instances`` voting
    games x ``seeds`` seeds: median [95% bootstrap CI], mean, largest null share; then the
    paired comparison of our default with shapiq's best at each budget."""
    runners, version = voting_runners(ablation)
    tables = voting_tables(instances, n)
    truths = [market.shapley_from_table(t) for t in tables]
    budgets = (int(0.15 * 2**n), int(0.30 * 2**n))
    errors: dict[str, dict[int, np.ndarray]] = {}
    nulls: dict[str, dict[int, float]] = {}
    for name, run in runners.items():
        errors[name], nulls[name] = {}, {}
        for budget in budgets:
            errs, shares = [], []
            for table, truth in zip(tables, truths, strict=True):
                for seed in range(seeds):
                    phi = run(table, n, budget, seed)
                    errs.append(relative_error(phi, truth))
                    shares.append(abs(phi[-1]) / max(float(np.abs(phi).max()), 1e-12))
            errors[name][budget], nulls[name][budget] = np.array(errs), max(shares)
    boot = np.random.default_rng(0)
    head = " | ".join(
        f"{round(100 * b / 2**n)}% ({b}): median [95% CI] | mean | null share" for b in budgets
    )
    rows = [
        f"### Weighted voting games, n = {n} (shapiq {version}), {instances} games x {seeds} seeds",
        "",
        f"| estimator | {head} |",
        "|---" * (1 + 3 * len(budgets)) + "|",
    ]
    for name in sorted(runners, key=lambda k: float(np.median(errors[k][budgets[0]]))):
        cells = []
        for budget in budgets:
            e = errors[name][budget]
            low, high = spread(e, boot)
            cells += [
                f"{np.median(e):.4f} [{low:.3f}, {high:.3f}]",
                f"{e.mean():.4f}",
                f"{nulls[name][budget]:.3f}",
            ]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    default = next(iter(runners))
    rows.append("")
    for budget in budgets:
        best = min(
            (k for k in runners if k.startswith("shapiq")),
            key=lambda k: float(np.median(errors[k][budget])),
        )
        diff = errors[default][budget] - errors[best][budget]
        picks = boot.integers(0, len(diff), (2000, len(diff)))
        low, high = np.quantile(np.median(diff[picks], axis=1), [0.025, 0.975])
        ours_med, their_med = np.median(errors[default][budget]), np.median(errors[best][budget])
        rows.append(
            f"At {budget} ({round(100 * budget / 2**n)}%): ours {ours_med:.4f} (mean "
            f"{errors[default][budget].mean():.4f}) vs shapiq best `{best}` {their_med:.4f} "
            f"(mean {errors[best][budget].mean():.4f}); ours better on "
            f"{int(np.sum(diff < 0))}/{len(diff)} paired runs; median paired difference "
            f"{np.median(diff):+.4f} [95% CI {low:+.3f}, {high:+.3f}]: "
            f"{'met' if ours_med <= their_med else 'NOT met'}."
        )
    return rows + [""]


LARGE_SIZES = (12, 14)
"""Numbers of identities of the comparison above 10 (the default budget covers 25% and 6%)."""


def large_tables(kind: str, n: int, instances: int) -> list[np.ndarray]:
    """``instances`` games of ``kind`` (voting, fl-exp, fl-power) with ``n`` players."""
    if kind == "voting":
        return voting_tables(instances, n, first_seed=2100)
    link = "power" if kind == "fl-power" else "exp"
    return [
        fl_game(n, np.random.default_rng(2200 + k), noise=0.01, link=link).table()
        for k in range(instances)
    ]


def large_rows(instances: int, seeds: int) -> list[str]:
    """The default method at the default budget vs shapiq's best and our permutation
    sampler, n = 12 and 14: per game kind, median [95% CI] and the paired comparison."""
    runners: dict[str, Estimator] = {}
    runners[f"ours:{DEFAULT_METHOD} (default)"] = ours(DEFAULT_METHOD)
    runners["ours:permutation (the default before)"] = ours("permutation")
    theirs, version = shapiq_estimators()
    runners.update({k: v for k, v in theirs.items() if "SPEX" not in k})
    rows = [
        f"### The default above 10 identities: `{DEFAULT_METHOD}` at {DEFAULT_BUDGET} vs shapiq"
        f" {version}, {instances} games x {seeds} seeds per cell",
        "",
        "| game | n | share of 2^n | ours: median [95% CI] | permutation (before) |"
        " shapiq best: median [95% CI] | paired diff. ours - best [95% CI] | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    boot = np.random.default_rng(0)
    default, before = list(runners)[:2]
    for kind in ("voting", "fl-exp", "fl-power"):
        for n in LARGE_SIZES:
            tables = large_tables(kind, n, instances)
            truths = [market.shapley_from_table(t) for t in tables]
            errors = {
                name: np.array(
                    [
                        relative_error(run(table, n, DEFAULT_BUDGET, seed), truth)
                        for table, truth in zip(tables, truths, strict=True)
                        for seed in range(seeds)
                    ]
                )
                for name, run in runners.items()
            }
            best = min(
                (k for k in runners if k.startswith("shapiq")),
                key=lambda k: float(np.median(errors[k])),
            )
            diff = errors[default] - errors[best]
            picks = boot.integers(0, len(diff), (2000, len(diff)))
            low, high = np.quantile(np.median(diff[picks], axis=1), [0.025, 0.975])
            ours_ci, best_ci = spread(errors[default], boot), spread(errors[best], boot)
            met = np.median(errors[default]) <= np.median(errors[best])
            rows.append(
                f"| {kind} | {n} | {100 * DEFAULT_BUDGET / 2**n:.0f}% | "
                f"{np.median(errors[default]):.4f} [{ours_ci[0]:.3f}, {ours_ci[1]:.3f}] | "
                f"{np.median(errors[before]):.4f} | `{best.removeprefix('shapiq:')}` "
                f"{np.median(errors[best]):.4f} [{best_ci[0]:.3f}, {best_ci[1]:.3f}] | "
                f"{np.median(diff):+.4f} [{low:+.3f}, {high:+.3f}] | {'yes' if met else 'NO'} |"
            )
    return rows + [
        "",
        "Voting games: weights 1..9 with a null player and two equal weights (game seeds 2100+);"
        " FL-like: `market.games.fl_game` (noise 0.01, a null player and a duplicate; seeds "
        "2200+). Relative L2 error vs exact Shapley; the interval of the paired difference is "
        "a bootstrap of its median over games x seeds.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer games and seeds")
    parser.add_argument("--voting-only", action="store_true", help="only the voting games")
    parser.add_argument("--games", type=int, default=8, help="voting games")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per voting game")
    parser.add_argument(
        "--large-games", type=int, default=5, help="games per cell above 10 identities"
    )
    parser.add_argument(
        "--ablation", action="store_true", help="also the surrogate's earlier settings (slow)"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    single_blas_thread()
    started = time.perf_counter()
    seeds = 1 if args.quick else 3
    lines = ["## Default scoring and threshold games (bench/default_scoring.py)", ""]
    if not args.voting_only:
        lines += default_rows(seeds)
        lines += large_rows(2 if args.quick else args.large_games, 1 if args.quick else 2)
    games, voting_seeds = (2, 1) if args.quick else (args.games, args.seeds)
    voting = voting_rows(games, voting_seeds, ablation=args.ablation)
    lines += voting
    cpu = f"{model_name(default='unknown')} ({simd_short()})"
    wall = time.perf_counter() - started
    lines.append(f"Bench wall time: {wall:.0f} s on {cpu}.")
    print("\n".join(lines))
    if not args.quick:
        out = Path(__file__).resolve().parent / "results" / "voting_games.md"
        flags = (" --voting-only" if args.voting_only else "") + (
            " --ablation" if args.ablation else ""
        )
        note = (
            "Relative L2 error vs exact Shapley over games x seeds (game seeds 2000+; the "
            "estimator was tuned on seeds 3000+): median with a 95% bootstrap interval, mean; "
            "null share = largest |phi_null| / max|phi|. Run: `python -m bench.default_scoring"
            f"{flags}` ({wall:.0f} s wall), on {cpu}.\n\n"
        )
        out.write_text("# Weighted voting games: ours vs shapiq\n\n" + note + "\n".join(voting))


if __name__ == "__main__":
    main()
