"""Shapley estimators vs shapiq at equal budgets of distinct utility evaluations.

Run: ``python -m bench.shapley`` (about 2-3 minutes on 2 cores; ``--quick`` for a smoke run).

For every game instance and seed, each estimator gets a budget of 5/10/15/30% of the ``2**n``
coalitions and is scored by the relative L2 error ``||phi_hat - phi|| / ||phi||`` against the
exact Shapley values of the same (noisy) table; the table reports the median over instances
and seeds. Games:

* ``fl-exp``: the FL-like game of issue 4, ``n = 10``: accuracy saturating exponentially in
  quality-weighted pooled data, a null player, a duplicated player, deterministic
  per-coalition noise (sd 0.01);
* ``fl-power``: the same with a power-law learning curve;
* ``fedavg-ridge``: a small real learning game (FedAvg of clients' ridge classifiers on
  non-IID, partly mislabelled data; accuracy on a finite test set; a garbage update and a
  duplicated client), closer to a recorded round than the parametric games;
* ``minilm``: utility tables recorded from real MiniLM LoRA rounds, if
  ``bench/data/minilm_round_utilities.npz`` exists.

Every shapiq Shapley-value approximator is run (``shapiq.approximator.SV_APPROXIMATORS``,
also with ``pairing_trick=True`` where the constructor takes it); those that fail report why.
Game instances use seeds from 1000 up, which the estimators were not developed on. Also times
exact Shapley for ``n = 16`` from a table. Writes ``bench/results/shapley.md``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

import market
from bench.default_scoring import default_rows, voting_rows
from bench.shapley_games import (
    DATA,
    Estimator,
    fedavg_table,
    minilm_tables,
    ours,
    shapiq_estimators,
    single_blas_thread,
)
from market.games import fl_game

FRACTIONS = (0.05, 0.10, 0.15, 0.30)
OURS = ("adaptive", "permutation", "tmc", "gtg", "surrogate")
ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "shapley.md"

SLOW = frozenset({"shapiq:SPEX"})
"""Seconds per call: run on the first ``SLOW_GAMES`` games with one seed only (marked *)."""
SLOW_GAMES = 1


def fl_tables(link: str, instances: int) -> list[np.ndarray]:
    """Utility tables of held-out FL-like games with 10 players."""
    return [
        fl_game(10, np.random.default_rng(1000 + k), noise=0.01, link=link).table()
        for k in range(instances)
    ]


def fedavg_tables(instances: int) -> list[np.ndarray]:
    """Held-out FedAvg learning games with 10 players."""
    return [fedavg_table(10, np.random.default_rng(1000 + k)) for k in range(instances)]


def budget_for(fraction: float, n: int) -> int:
    """Budget at ``fraction`` of ``2**n``, at least every estimator's minimum (2n + 2)."""
    return max(int(fraction * 2**n), 2 * n + 2)


Cells = dict[str, dict[float, float | str]]


def compare(tables: list[np.ndarray], estimators: dict[str, Estimator], seeds: int) -> Cells:
    """Median relative L2 error per estimator and budget fraction (or why it failed)."""
    errors: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    failed: dict[tuple[str, float], str] = {}
    for index, table in enumerate(tables):
        n = int(table.size).bit_length() - 1
        truth = market.shapley_from_table(table)
        scale = float(np.linalg.norm(truth)) or 1.0
        for fraction in FRACTIONS:
            for name, run in estimators.items():
                if (name, fraction) in failed:
                    continue
                if name in SLOW and index >= SLOW_GAMES:
                    continue
                for seed in range(1 if name in SLOW else seeds):
                    try:
                        phi = run(table, n, budget_for(fraction, n), seed)
                    except Exception as exc:  # noqa: BLE001 - report any shapiq failure
                        why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
                        failed[(name, fraction)] = why
                        break
                    errors[name][fraction].append(float(np.linalg.norm(phi - truth)) / scale)
    cells: Cells = {}
    for name in estimators:
        cells[name] = {}
        for fraction in FRACTIONS:
            if (name, fraction) in failed:
                cells[name][fraction] = failed[(name, fraction)]
            else:
                cells[name][fraction] = float(np.median(errors[name][fraction]))
    return cells


def _at(cells: Cells, name: str, fraction: float) -> float:
    value = cells[name][fraction]
    return value if isinstance(value, float) else float("inf")


def render(title: str, cells: Cells, n: int) -> tuple[list[str], float]:
    """Markdown table; returns the lines and the ours/shapiq ratio at 15%."""
    head = "| estimator | " + " | ".join(f"{int(f * 100)}% ({budget_for(f, n)})" for f in FRACTIONS)
    lines = [f"### {title}", "", head + " |", "|---" * (len(FRACTIONS) + 1) + "|"]
    notes: list[str] = []
    for name in sorted(cells, key=lambda k: _at(cells, k, 0.15)):
        row = []
        for value in cells[name].values():
            if isinstance(value, float):
                row.append(f"{value:.4f}")
            else:
                if value not in notes:
                    notes.append(value)
                row.append(f"n/a [{notes.index(value) + 1}]")
        star = " *" if name in SLOW else ""
        lines.append(f"| {name}{star} | {' | '.join(row)} |")
    lines.append("")
    lines += [f"[{k + 1}] {why}" for k, why in enumerate(notes)]
    if any(name in SLOW for name in cells):
        lines.append(f"\\* slow (seconds per call): first {SLOW_GAMES} games, one seed.")
    ours_name = min((k for k in cells if k.startswith("ours")), key=lambda k: _at(cells, k, 0.15))
    best = min((k for k in cells if k.startswith("shapiq")), key=lambda k: _at(cells, k, 0.15))
    ours_err, their_err = _at(cells, ours_name, 0.15), _at(cells, best, 0.15)
    ratio = ours_err / their_err
    lines += [
        "",
        f"At 15%: ours best `{ours_name}` {ours_err:.4f}, shapiq best `{best}` "
        f"{their_err:.4f}, ratio **{ratio:.3f}** (target <= 0.5).",
        "",
    ]
    return lines, ratio


def time_exact(n: int = 16, repeats: int = 5) -> float:
    """Median seconds of exact Shapley from a table of ``2**n`` utilities."""
    table = np.random.default_rng(0).normal(size=2**n)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        market.estimate(table, n, "exact")
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    """Run the comparison and write ``bench/results/shapley.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=8, help="games per family")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per game and budget")
    parser.add_argument("--quick", action="store_true", help="2 instances, 1 seed")
    parser.add_argument("--data", type=Path, default=DATA, help="recorded MiniLM tables (.npz)")
    args = parser.parse_args()
    instances, seeds = (2, 1) if args.quick else (args.instances, args.seeds)
    warnings.filterwarnings("ignore")
    single_blas_thread()
    estimators: dict[str, Estimator] = {f"ours:{m}": ours(m) for m in OURS}
    theirs, version = shapiq_estimators()
    estimators.update(theirs)
    start = time.perf_counter()
    out = [
        "# Shapley estimators vs shapiq",
        "",
        f"shapiq {version}; median relative L2 error vs exact over {instances} games x "
        f"{seeds} seeds (game seeds 1000+); budget = distinct evaluations (% of 2^n).",
        "",
    ]
    ratios: dict[str, float] = {}
    for label, tables in (
        ("fl-exp", fl_tables("exp", instances)),
        ("fl-power", fl_tables("power", instances)),
        ("fedavg-ridge", fedavg_tables(instances)),
    ):
        cells = compare(tables, estimators, seeds)
        lines, ratios[label] = render(f"{label}, n = 10", cells, 10)
        out += lines
    recorded = minilm_tables(args.data)
    if recorded is None:
        shown = args.data.resolve()
        if shown.is_relative_to(ROOT.parent):
            shown = shown.relative_to(ROOT.parent)
        out += [f"### minilm\n\nskipped: {shown} not found.", ""]
    else:
        n = int(recorded[0].size).bit_length() - 1
        cells = compare(recorded, estimators, max(seeds, 3))
        title = f"minilm ({len(recorded)} recorded rounds), n = {n}"
        lines, ratios["minilm"] = render(title, cells, n)
        out += lines
    if not args.quick:  # the default method at the default budget; voting games vs shapiq
        out += default_rows(3) + voting_rows(6, 2)
    exact_s = time_exact()
    out += [f"Exact Shapley, n = 16, from a table: {exact_s * 1000:.1f} ms (target < 1 s).", ""]
    out.append(f"Bench wall time: {time.perf_counter() - start:.0f} s.")
    text = "\n".join(out) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"wrote {RESULTS.relative_to(ROOT.parent)}; ratios at 15%: {ratios}")


if __name__ == "__main__":
    main()
