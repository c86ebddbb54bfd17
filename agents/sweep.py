"""Batch parameter sweeps: ``sweep(base, grid, seeds=...) -> DataFrame``, one row per run.

Grid keys are dotted paths into the scenario (``"market.mechanism"``,
``"participants.free_riders.count"``); every combination of grid values is run for every
seed. Runs are independent and seeded, so the ``process`` backend (local worker processes)
and the ``ray`` backend (a Ray cluster given by address, for sweeps that outgrow one
machine) give identical rows for the same seeds.

The default backend, ``auto``, runs small sweeps (at most :data:`SERIAL_MAX_RUNS` runs, or
one worker) in this process: each worker process pays for starting Python, importing torch
and loading the model, which for a handful of runs costs more than it saves (issue 17: 2
runs took 54 s on ``process`` and 4 runs 12 s serially). Larger sweeps use ``process``.

A script that uses the ``process`` backend must guard its entry point, since worker
processes are spawned and re-import the main module::

    if __name__ == "__main__":
        table = sweep(base, grid, seeds=[0, 1], backend="process")
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

from agents.scenario import Scenario, ScenarioError, example_path

if TYPE_CHECKING:
    import pandas as pd

BACKENDS = ("auto", "process", "ray", "serial")
SERIAL_MAX_RUNS = 8
"""``auto`` runs sweeps of at most this many runs serially (process start-up dominates)."""


def choose_backend(backend: str, n_runs: int, workers: int | None = None) -> str:
    """The backend a sweep of ``n_runs`` runs uses: ``auto`` resolved, others unchanged."""
    if backend not in BACKENDS:
        raise ScenarioError("backend", f"{backend!r} is not one of {BACKENDS}")
    if backend != "auto":
        return backend
    return "serial" if n_runs <= SERIAL_MAX_RUNS or workers == 1 else "process"


def expand(
    base: Scenario, grid: Mapping[str, Sequence[Any]], seeds: Iterable[int]
) -> list[tuple[dict[str, Any], Scenario]]:
    """Every (parameters, scenario) pair of the grid x seeds, validated up front."""
    keys = list(grid)
    for key in keys:
        values = grid[key]
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ScenarioError(f"grid.{key}", "give a non-empty list of values")
        base.get(key)  # unknown paths fail here, before any run starts
    seed_list = list(seeds)
    if not seed_list:
        raise ScenarioError("seeds", "give at least one seed")
    points = []  # every grid point is built (validated) once, before any seed is applied:
    for combo in itertools.product(*(grid[k] for k in keys)):  # a bad value fails at once
        scenario = base
        for key, value in zip(keys, combo, strict=True):
            scenario = scenario.replace(key, value)
        points.append((dict(zip(keys, combo, strict=True)), scenario))
    runs = []
    for params, point in points:
        for seed in seed_list:
            runs.append(({**params, "seed": int(seed)}, point.replace("seed", int(seed))))
    return runs


def run_summary(scenario: Scenario) -> dict[str, Any]:
    """Run one scenario and return its summary row (executed in a worker)."""
    from agents.run import run

    return run(scenario).summary


def sweep(
    base: Scenario,
    grid: Mapping[str, Sequence[Any]],
    *,
    seeds: Iterable[int] = (0,),
    backend: str = "auto",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = False,
    on_run: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Run the grid x seeds and return one row per run: its parameters and summary.

    Args:
        base: the scenario every run starts from.
        grid: dotted path -> list of values.
        seeds: seeds to run each combination with.
        backend: ``auto`` (serial up to :data:`SERIAL_MAX_RUNS` runs, else ``process``),
            ``process`` (local worker processes; guard the script with
            ``if __name__ == "__main__":``), ``ray`` (Ray cluster at ``address``;
            ``None`` starts or joins a local one) or ``serial`` (this process).
        workers: worker processes for ``process`` (default: CPU count).
        on_run: called with (parameters, summary) as each run's result arrives, in grid
            order (e.g. to move a progress bar in a UI).
    """
    runs = expand(base, grid, seeds)
    backend = choose_backend(backend, len(runs), workers)
    bar = None
    if progress or on_run is not None:
        bar = _Progress(len(runs), progress, on_run, [params for params, _ in runs])
    try:
        summaries = map_runs(
            [scenario for _, scenario in runs], backend, workers=workers, address=address, bar=bar
        )
    finally:
        if bar is not None:
            bar.close()
    import pandas as pd

    rows = [{**params, **summary} for (params, _), summary in zip(runs, summaries, strict=True)]
    return pd.DataFrame(rows)


def map_runs(
    scenarios: Sequence[Scenario],
    backend: str,
    *,
    worker: Callable[[Scenario], Any] = run_summary,
    workers: int | None = None,
    address: str | None = None,
    bar: _Progress | None = None,
) -> list[Any]:
    """``[worker(s) for s in scenarios]`` on a resolved backend (``serial``, ``process`` or
    ``ray``), in order; ``bar`` advances as each result arrives.

    ``worker`` must be a module-level function (worker processes and Ray pickle it by name).
    """
    if backend == "serial":
        out = []
        for scenario in scenarios:
            out.append(worker(scenario))
            if bar is not None:
                bar.update(1, out[-1])
        return out
    if backend == "process":
        context = get_context("spawn")  # torch is not fork-safe
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(worker, s) for s in scenarios]
            out = []
            for future in futures:
                out.append(future.result())
                if bar is not None:
                    bar.update(1, out[-1])
            return out
    if backend == "ray":
        return _ray_map(list(scenarios), address, bar, worker)
    raise ScenarioError("backend", f"{backend!r} is not one of {BACKENDS[1:]} (resolve 'auto')")


class _Progress:
    """A tqdm bar and/or a per-run callback, advanced as results arrive in grid order."""

    def __init__(
        self,
        total: int,
        show: bool,
        on_run: Callable[[dict[str, Any], Any], None] | None,
        params: list[dict[str, Any]],
        desc: str = "sweep",
    ) -> None:
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="run")
        self.on_run = on_run
        self.params = params
        self.done = 0
        self.summaries: list[dict[str, Any]] = []

    def update(self, _: int = 1, summary: Any = None) -> None:
        if self.on_run is not None and summary is not None:
            self.on_run(self.params[self.done], summary)
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _ray_map(
    scenarios: list[Scenario],
    address: str | None,
    bar: Any,
    worker: Callable[[Scenario], Any] = run_summary,
) -> list[Any]:
    try:
        import ray
    except ImportError:
        raise ScenarioError(
            "backend", "'ray' needs the ray extra; pip install -e '.[ray]'"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(worker)
    try:
        refs = [remote.remote(s) for s in scenarios]
        out = []
        for ref in refs:
            out.append(ray.get(ref))
            if bar is not None:
                bar.update(1, out[-1])
        return out
    finally:
        if started_here:
            ray.shutdown()


class SweepPlan:
    """A sweep file: ``base`` (a scenario file, relative to the sweep file, or an inline
    ``[base]`` table), ``seeds``, ``backend``, ``workers``, ``address`` and ``[grid]``."""

    def __init__(
        self,
        base: Scenario,
        grid: dict[str, list[Any]],
        seeds: list[int],
        backend: str,
        workers: int | None,
        address: str | None,
    ) -> None:
        self.base, self.grid, self.seeds = base, grid, seeds
        self.backend, self.workers, self.address = backend, workers, address


def load_sweep(path: str | Any) -> SweepPlan:
    """Read and validate a sweep TOML; errors are one-line :class:`ScenarioError`."""
    from pathlib import Path

    from agents.scenario.fields import read_toml

    file = Path(path)
    if not file.is_file() and "/" not in str(path) and not str(path).endswith(".toml"):
        file = Path(str(example_path(str(path))))  # a shipped sweep, by name
    raw = read_toml(file if file.is_file() else path, "sweep")
    allowed = {"base", "seeds", "backend", "workers", "address", "grid"}
    if "grid" not in raw and ("name" in raw or "participants" in raw or "market" in raw):
        raise ScenarioError(
            "sweep",
            f"{path} is a scenario, not a sweep; run it with `fedmarket run {path}`, or give a "
            "sweep file with [base] and [grid] tables",
        )
    for key in raw:
        if key not in allowed:
            raise ScenarioError(f"sweep.{key}", f"unknown key; allowed are {sorted(allowed)}")
    base_spec = raw.get("base", {})
    if isinstance(base_spec, str):
        base = Scenario.from_toml(file.parent / base_spec)
    elif isinstance(base_spec, dict):
        base = Scenario.from_dict(base_spec)
    else:
        raise ScenarioError("sweep.base", "give a scenario file name or a [base] table")
    grid = raw.get("grid", {})
    if not isinstance(grid, dict) or not grid:
        raise ScenarioError("sweep.grid", 'give at least one "dotted.path" = [values] under [grid]')
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds
    ):
        raise ScenarioError("sweep.seeds", f"give a list of non-negative integers, got {seeds!r}")
    backend = raw.get("backend", "auto")
    if backend not in BACKENDS:
        raise ScenarioError("sweep.backend", f"{backend!r} is not one of {BACKENDS}")
    workers = raw.get("workers")
    if workers is not None and (
        not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
    ):
        raise ScenarioError("sweep.workers", f"give a positive integer, got {workers!r}")
    address = raw.get("address")
    if address is not None and not isinstance(address, str):
        raise ScenarioError(
            "sweep.address", f"give a Ray address such as '127.0.0.1:6379', got {address!r}"
        )
    return SweepPlan(base, grid, seeds, backend, workers, address)
