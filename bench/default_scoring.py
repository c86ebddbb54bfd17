"""The default scoring method at the default budget vs exact Shapley, and the surrogate vs
shapiq on weighted voting (threshold) games.

Run: ``python bench/default_scoring.py`` (about a minute on 2 cores; ``--quick`` for less).

1. ``market.scoring.DEFAULT_METHOD`` at ``DEFAULT_BUDGET``: relative L2 error vs exact on the
   recorded MiniLM round tables (``bench/data``, via ``bench/shapley.py``'s ``minilm_tables``)
   and on head-mode-like games (FedAvg of ridge heads, ``bench/shapley.py``'s
   ``fedavg_table``) at n = 6..10; the null player's value and whether efficiency holds.
   Also the same method below ``2**n`` (sampling), to show what the sampler alone gives.
2. Weighted voting games (n = 10, a null player and two equal weights): median relative L2
   error of our surrogate (control variate, the default; and imputation) vs every shapiq SV
   approximator at 15% and 30% of the coalitions, and each one's largest null-player share
   ``|phi_null| / max|phi|``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402 (the repository root is put on sys.path first)
from shapley import fedavg_table, minilm_tables, shapiq_estimators  # noqa: E402

import market  # noqa: E402
from market.games import WeightedVotingGame  # noqa: E402
from market.scoring import DEFAULT_BUDGET, DEFAULT_METHOD  # noqa: E402


def rel(phi: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(phi - truth) / np.linalg.norm(truth))


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
                errs.append(rel(est.values, truth))
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


def voting_tables(instances: int, n: int = 10) -> list[np.ndarray]:
    out = []
    for k in range(instances):
        rng = np.random.default_rng(2000 + k)
        w = rng.integers(1, 10, n)
        w[-1], w[-2] = 0, w[0]
        quota = int(rng.uniform(0.5, 0.7) * w.sum()) + 1
        out.append(WeightedVotingGame(tuple(int(v) for v in w), quota).table())
    return out


def voting_rows(instances: int, seeds: int) -> list[str]:
    def ours(**options: object):  # type: ignore[no-untyped-def]
        def run(table: np.ndarray, n: int, budget: int, seed: int) -> np.ndarray:
            rng = np.random.default_rng(seed)
            return market.estimate(table, n, "surrogate", budget=budget, rng=rng, **options).values

        return run

    runners = {
        "ours:surrogate (control variate, 8 folds, fitted beta: default)": ours(),
        "ours:surrogate (control variate, 2 folds, beta 1: before)": ours(
            cv_folds=2, coefficient="one"
        ),
        "ours:permutation": lambda t, n, b, s: (
            market.estimate(t, n, "permutation", budget=b, rng=np.random.default_rng(s)).values
        ),
    }
    theirs, version = shapiq_estimators()
    runners.update({k: v for k, v in theirs.items() if "SPEX" not in k})
    tables = voting_tables(instances)
    rows = [
        f"### Weighted voting games, n = 10 (shapiq {version}), {instances} games x {seeds} seeds",
        "",
        "| estimator | 15% (153): error | null share | 30% (307): error | null share |",
        "|---|---|---|---|---|",
    ]
    for name, run in runners.items():
        cells = []
        for budget in (153, 307):
            errs, nulls = [], []
            for table in tables:
                truth = market.shapley_from_table(table)
                for seed in range(seeds):
                    phi = run(table, 10, budget, seed)
                    errs.append(rel(phi, truth))
                    nulls.append(abs(phi[-1]) / max(float(np.abs(phi).max()), 1e-12))
            cells += [f"{np.median(errs):.4f}", f"{max(nulls):.3f}"]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows + [""]


def cpu_name() -> str:
    """The CPU model and its widest SIMD extension (from ``lscpu``)."""
    import subprocess

    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU"
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{fields.get('Model name', 'unknown').strip()} ({simd})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer games and seeds")
    parser.add_argument("--voting-only", action="store_true", help="only the voting games")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    seeds = 1 if args.quick else 3
    lines = ["## Default scoring and threshold games (bench/default_scoring.py)", ""]
    if not args.voting_only:
        lines += default_rows(seeds)
    voting = voting_rows(2 if args.quick else 3, 1 if args.quick else 2)
    lines += voting
    cpu = cpu_name()
    lines.append(f"Bench wall time: {time.perf_counter() - started:.0f} s on {cpu}.")
    print("\n".join(lines))
    if not args.quick:
        out = Path(__file__).resolve().parent / "results" / "voting_games.md"
        note = (
            "Relative L2 error vs exact Shapley, median over games x seeds; null share = "
            "largest |phi_null| / max|phi|. Run: `python bench/default_scoring.py "
            f"--voting-only`, on {cpu}.\n\n"
        )
        out.write_text("# Weighted voting games: ours vs shapiq\n\n" + note + "\n".join(voting))


if __name__ == "__main__":
    main()
