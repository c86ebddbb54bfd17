"""Early stopping that keeps accuracy: GTG's rules and TMC's truncation vs exact Shapley.

Run: ``python -m bench.early_stopping [--seeds 10]`` (about a minute; numpy only).

Truncation (TMC, GTG) and GTG's between-round skip are biased options, not defaults; the
"Bias on games with known values" table shows a hidden harmful player and a skipped round
that pays nobody although its values are (.3, .3, -.6).

On the utility tables recorded from real MiniLM LoRA rounds
(``bench/data/minilm_round_utilities.npz``, see ``bench.record_minilm_utilities``) every
estimator gets the same cap of distinct evaluations (15%, 50% and 100% of the coalitions, the
last being no cap at all), and each stopping rule is switched off in turn, so each row shows
what the rule saves (evaluations actually used) and what it costs (relative L2 error against
the exact values of the same table). The last rows give our best
estimator (``surrogate``) the *same* number of evaluations that GTG used. The between-round
skip is checked on each recorded round (``|u(N) - u(empty)|`` against its tolerance) and on
the same round replayed as a stalled one (every coalition's utility pulled towards the
start model's, as when a late round no longer moves the model).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping

import numpy as np

import market
from bench.shapley_games import DATA, minilm_tables, relative_error
from market.games import AdditiveGame

CAP_FRACTIONS = (0.15, 0.5, 1.0)
"""Evaluation caps as fractions of the ``2**n`` coalitions (15%: the issue's budget; 100%:
no cap, only the stopping rules end the run)."""
CAP_FRACTION = CAP_FRACTIONS[0]

VARIANTS: dict[str, tuple[str, Mapping[str, object]]] = {
    # label: (method, options)
    "permutation sampling (no stopping rule)": ("permutation", {}),
    "TMC, truncation 0.01 + stderr stop": ("tmc", {}),
    "TMC, no truncation": ("tmc", {"truncation": 0.0}),
    "GTG, paper rules (truncation 0.01)": ("gtg", {}),
    "GTG, no stderr stop": ("gtg", {"tolerance": 0.0}),
    "GTG, no within-round truncation": ("gtg", {"truncation": 0.0}),
    "GTG, neither": ("gtg", {"tolerance": 0.0, "truncation": 0.0}),
    "GTG, + between-round skip 1e-3": ("gtg", {"skip_tol": 1e-3}),
    "default (adaptive)": ("adaptive", {}),
}


def run_variants(
    tables: list[np.ndarray], seeds: int, fraction: float
) -> tuple[dict[str, list[float]], dict[str, list[int]], list[int]]:
    """Errors and evaluations per variant; also GTG's evaluations per (table, seed)."""
    errors: dict[str, list[float]] = {label: [] for label in VARIANTS}
    used: dict[str, list[int]] = {label: [] for label in VARIANTS}
    gtg_used: list[int] = []
    for table in tables:
        n = int(table.size).bit_length() - 1
        truth = market.shapley_from_table(table)
        cap = int(fraction * 2**n)
        for seed in range(seeds):
            for label, (method, options) in VARIANTS.items():
                rng = np.random.default_rng(seed)
                result = market.estimate(table, n, method, budget=cap, rng=rng, **options)
                errors[label].append(relative_error(result.values, truth))
                used[label].append(result.evaluations)
                if label == "GTG, paper rules (truncation 0.01)":
                    gtg_used.append(result.evaluations)
    return errors, used, gtg_used


def surrogate_at(tables: list[np.ndarray], seeds: int, budgets: list[int]) -> list[float]:
    """Surrogate errors with the evaluations GTG used, table by table and seed by seed."""
    out = []
    index = 0
    for table in tables:
        n = int(table.size).bit_length() - 1
        truth = market.shapley_from_table(table)
        for seed in range(seeds):
            budget = max(budgets[index], 2 * n + 2)
            index += 1
            result = market.estimate(
                table, n, "surrogate", budget=budget, rng=np.random.default_rng(seed)
            )
            out.append(relative_error(result.values, truth))
    return out


def bias_rows(seeds: int) -> list[str]:
    """The bias of truncation and of the skip on two small games with known values."""
    games = {
        "additive A=+1, B=+0.5, P=-0.5": AdditiveGame(np.array([1.0, 0.5, -0.5])),
        "u(N) = u(empty), values (.3, .3, -.6)": AdditiveGame(np.array([0.3, 0.3, -0.6])),
    }
    rows = [
        "",
        f"Bias on games with known values (mean over {seeds} seeds, budget 8 = 2^3):",
        "",
        "| game | estimator | mean estimate | exact | converged (any seed) |",
        "|---|---|---|---|---|",
    ]
    for label, game in games.items():
        table = game.table()
        for name, (method, options) in {
            "TMC, truncation 0.4": ("tmc", {"truncation": 0.4}),
            "GTG, truncation 0.4": ("gtg", {"truncation": 0.4}),
            "GTG, skip 1e-3": ("gtg", {"skip_tol": 1e-3}),
            "default (adaptive)": ("adaptive", {}),
        }.items():
            runs = [
                market.estimate(table, 3, method, budget=8, rng=np.random.default_rng(s), **options)
                for s in range(seeds)
            ]
            mean = np.mean([r.values for r in runs], axis=0)
            exact = np.round(game.shapley_values(), 3).tolist()
            claimed = any(r.converged for r in runs)
            rows.append(
                f"| {label} | {name} | {np.round(mean, 3).tolist()} | {exact} | {claimed} |"
            )
    return rows


def between_round_rows(tables: list[np.ndarray]) -> list[str]:
    tol = 1e-3
    rows = [
        "",
        f"Between-round skip (tolerance {tol:g} in utility units): a round is valued only "
        "when it moved the model.",
        "",
        "| round | u(N) - u(empty) | skipped? | evaluations | max abs exact value |",
        "|---|---|---|---|---|",
    ]
    for index, table in enumerate(tables):
        n = int(table.size).bit_length() - 1
        for label, t in ((f"{index} (recorded)", table), (f"{index}, stalled x0.001", None)):
            if t is None:  # the same round, its effect on every coalition shrunk 1000-fold
                t = table[0] + 1e-3 * (table - table[0])
            result = market.estimate(t, n, "gtg", budget=int(CAP_FRACTION * 2**n), skip_tol=tol)
            exact = market.shapley_from_table(t)
            rows.append(
                f"| {label} | {t[-1] - t[0]:+.2e} | {'yes' if result.info['skipped'] else 'no'} "
                f"| {result.evaluations} | {np.abs(exact).max():.1e} |"
            )
    rows += [
        "",
        "A skipped round pays nobody for it. That is biased: the values it gives up are "
        "bounded by how little the round moved every coalition (last column), not by "
        "u(N) - u(empty) (see the (.3, .3, -.6) game above); the skip is off by default.",
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per table")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found (python -m bench.record_minilm_utilities writes it)")
        return
    started = time.perf_counter()
    tables = minilm_tables()
    assert tables is not None
    n = int(tables[0].size).bit_length() - 1
    results = {f: run_variants(tables, args.seeds, f) for f in CAP_FRACTIONS}
    caps = [int(f * 2**n) for f in CAP_FRACTIONS]
    lines = [
        "## Early stopping vs exact Shapley (bench/early_stopping.py)",
        "",
        f"{len(tables)} utility tables recorded from real MiniLM LoRA rounds (n = {n}, "
        f"negative validation loss), {args.seeds} seeds each; each cell: distinct evaluations "
        "used / relative L2 error vs exact, median over tables and seeds, under a cap of "
        + ", ".join(f"{c} ({f:.0%})" for c, f in zip(caps, CAP_FRACTIONS, strict=True))
        + f" of the 2^{n} coalitions.",
        "",
        "| estimator | " + " | ".join(f"cap {c}" for c in caps) + " |",
        "|---|" + "---|" * len(caps),
    ]
    for label in VARIANTS:
        cells = [
            f"{np.median(results[f][1][label]):.0f} / {np.median(results[f][0][label]):.4f}"
            for f in CAP_FRACTIONS
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = []
    for f in CAP_FRACTIONS:
        gtg_used = results[f][2]
        same = surrogate_at(tables, args.seeds, gtg_used)
        cells.append(f"{np.median(gtg_used):.0f} / {np.median(same):.4f}")
    lines.append("| surrogate, with the evaluations GTG used | " + " | ".join(cells) + " |")
    lines += bias_rows(args.seeds)
    lines += between_round_rows(tables)
    lines += ["", f"Bench wall time: {time.perf_counter() - started:.0f} s."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
