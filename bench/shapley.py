"""Shapley estimators vs shapiq at equal budgets of distinct utility evaluations.

Run: ``python bench/shapley.py`` (about 2-3 minutes on 2 cores; ``--quick`` for a smoke run).

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
import inspect
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import market
from market.games import fl_game

FRACTIONS = (0.05, 0.10, 0.15, 0.30)
OURS = ("adaptive", "permutation", "tmc", "gtg", "surrogate")
ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "minilm_round_utilities.npz"
RESULTS = ROOT / "results" / "shapley.md"

SLOW = frozenset({"shapiq:SPEX"})
"""Seconds per call: run on the first ``SLOW_GAMES`` games with one seed only (marked *)."""
SLOW_GAMES = 1

Estimator = Callable[[np.ndarray, int, int, int], np.ndarray]


def ours(method: str) -> Estimator:
    """One of our estimators as ``(table, n, budget, seed) -> phi``."""

    def run(table: np.ndarray, n: int, budget: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        result = market.estimate(table, n, method, budget=budget, rng=rng)
        assert result.evaluations <= budget
        return result.values

    return run


def shapiq_estimators() -> tuple[dict[str, Estimator], str]:
    """Every shapiq SV approximator (and its paired variant), keyed by display name."""
    import shapiq
    from shapiq import approximator

    version = getattr(shapiq, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("shapiq")
    out: dict[str, Estimator] = {}
    classes: list[Any] = list(approximator.SV_APPROXIMATORS)  # shapiq classes, untyped here
    for cls in classes:
        params = inspect.signature(cls.__init__).parameters
        variants = [False, True] if "pairing_trick" in params else [False]
        for paired in variants:
            name = f"shapiq:{cls.__name__}" + ("+pair" if paired else "")
            out[name] = _shapiq_runner(cls, params, paired)
    return out, str(version)


def _shapiq_runner(cls: Any, params: Mapping[str, object], paired: bool) -> Estimator:
    def run(table: np.ndarray, n: int, budget: int, seed: int) -> np.ndarray:
        kwargs: dict[str, object] = {"n": n, "random_state": seed}
        if "index" in params:
            kwargs["index"] = "SV"
        if "index" in params and "max_order" in params:
            kwargs["max_order"] = 1  # SPEX family: first-order (SV) only; kADDSHAP keeps k=2
        if paired:
            kwargs["pairing_trick"] = True
        approx = cls(**kwargs)
        weights = 1 << np.arange(n)
        calls = {"n": 0}

        def game(coalitions: np.ndarray) -> np.ndarray:
            rows = np.atleast_2d(np.asarray(coalitions, dtype=bool))
            calls["n"] += rows.shape[0]
            return table[rows.astype(np.int64) @ weights]

        values = approx.approximate(budget, game)
        return np.array([values[(i,)] for i in range(n)], dtype=float)

    return run


def fl_tables(link: str, instances: int) -> list[np.ndarray]:
    """Utility tables of held-out FL-like games with 10 players."""
    return [
        fl_game(10, np.random.default_rng(1000 + k), noise=0.01, link=link).table()
        for k in range(instances)
    ]


def fedavg_table(n: int, rng: np.random.Generator, dim: int = 30, test: int = 500) -> np.ndarray:
    """Utility table of a small real learning game: FedAvg of ridge classifiers.

    Each client fits a ridge classifier on its own non-IID, partly mislabelled data; a
    coalition's model is the data-size-weighted average of its members' models (FedAvg), the
    empty coalition's is a weak previous global model, and the utility is accuracy on a fixed
    test set of ``test`` points (so evaluations carry finite-test-set noise). The last client
    sends a garbage update and client ``n-2`` duplicates client 0.
    """
    truth = rng.normal(size=dim)

    def draw(count: int, shift: np.ndarray | float, flip: float) -> tuple[np.ndarray, np.ndarray]:
        features = rng.normal(size=(count, dim)) + shift
        labels = (features @ truth + 0.5 * rng.normal(size=count) > 0).astype(float)
        flipped = rng.random(count) < flip
        labels[flipped] = 1 - labels[flipped]
        return np.hstack([features, np.ones((count, 1))]), labels

    models, sizes = [], []
    for _ in range(n):
        count = int(rng.integers(10, 120))
        features, labels = draw(count, rng.normal(scale=0.4, size=dim), rng.uniform(0, 0.35))
        gram = features.T @ features + 2.0 * np.eye(dim + 1)
        models.append(np.linalg.solve(gram, features.T @ (2 * labels - 1)))
        sizes.append(float(count))
    scale = float(np.linalg.norm(models[0]))
    models[-1] = rng.normal(size=dim + 1) * scale / np.sqrt(dim)
    models[-2], sizes[-2] = models[0], sizes[0]
    stacked, weights = np.array(models), np.array(sizes)
    previous = truth + 3.0 * rng.normal(size=dim)
    previous = np.append(previous / np.linalg.norm(previous) * scale, 0.0)
    test_x, test_y = draw(test, 0.0, 0.0)
    members = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)
    mass = members @ weights
    averaged = (members * weights) @ stacked / np.maximum(mass, 1e-12)[:, None]
    averaged[0] = previous
    table: np.ndarray = ((test_x @ averaged.T > 0) == test_y[:, None]).mean(axis=0)
    return table


def fedavg_tables(instances: int) -> list[np.ndarray]:
    """Held-out FedAvg learning games with 10 players."""
    return [fedavg_table(10, np.random.default_rng(1000 + k)) for k in range(instances)]


def minilm_tables(path: Path = DATA) -> list[np.ndarray] | None:
    """Recorded MiniLM LoRA round tables, or ``None`` if the file is absent."""
    if not path.exists():
        return None
    with np.load(path) as data:
        keys = sorted(
            (k for k in data.files if k == "utilities" or k.startswith("utilities_")),
            key=lambda k: int(k.split("_")[1]) if "_" in k else -1,
        )
        tables = [np.asarray(data[k], dtype=np.float64) for k in keys]
        n_declared = int(data["n_players"]) if "n_players" in data.files else None
    for table in tables:
        n = int(table.size).bit_length() - 1
        if 1 << n != table.size or (n_declared is not None and n != n_declared):
            raise ValueError(f"{path}: a table of length {table.size} does not match n_players")
    return tables


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
    try:  # small dense solves everywhere: BLAS threads only add overhead on 2 busy cores
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        pass
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
        import sys

        sys.path.insert(0, str(ROOT))
        from default_scoring import default_rows, voting_rows

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
