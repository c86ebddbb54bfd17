"""The games and estimators the Shapley benches share (``bench.shapley``,
``bench.default_scoring``, ``bench.early_stopping``).

Every estimator is an :data:`Estimator`, ``(table, n, budget, seed) -> phi``: ours through
``market.estimate`` (:func:`ours`), and every shapiq Shapley-value approximator
(:func:`shapiq_estimators`), each asked for exactly ``budget`` evaluations of the same table.
Games are utility tables (index = bitmask, bit ``i`` = player ``i``): a small real learning
game (:func:`fedavg_table`) and the tables recorded from real MiniLM rounds
(:func:`minilm_tables`, written by ``python -m bench.record_minilm_utilities``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import market

DATA = Path(__file__).resolve().parent / "data" / "minilm_round_utilities.npz"
"""The recorded MiniLM round tables (kept in the repository)."""

Estimator = Callable[[np.ndarray, int, int, int], np.ndarray]
"""``(table, n, budget, seed) -> phi``: one estimate of the Shapley values of a table."""


def ours(method: str, **options: Any) -> Estimator:
    """One of our estimators (``market.estimate``'s ``method``, with ``options``)."""

    def run(table: np.ndarray, n: int, budget: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        result = market.estimate(table, n, method, budget=budget, rng=rng, **options)
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


def relative_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """``||estimate - truth|| / ||truth||`` (L2)."""
    return float(np.linalg.norm(estimate - truth) / np.linalg.norm(truth))


def single_blas_thread() -> None:
    """Small dense solves everywhere: BLAS threads only add overhead on 2 busy cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")
