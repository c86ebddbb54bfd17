"""``batch_run``: Mesa's batch runner for :class:`~agents.model.MarketModel`, last round included.

Mesa 3.3's ``mesa.batch_run`` reads a model's ``DataCollector`` at steps ``0 ..
model.steps - 1``; a model that collects in ``__init__`` and after every step (Mesa's own
idiom, and ours: row 0 is the initial model) has ``steps + 1`` records, so the final round is
never reported (mesa issue #2514, fixed upstream after 3.3). It also reads only
``agent_reporters``, not the ``participants`` table our participants are recorded in.
This function takes the same arguments and returns the same list of dicts (``RunId``,
``iteration``, ``Step``, the parameters, the model variables and, per participant,
``AgentID`` and its variables), reading every record the ``DataCollector`` holds. As in
Mesa, a participant variable named like a round variable (``joined``, ``included``) takes
its place in that participant's row.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from functools import partial
from multiprocessing import get_context
from typing import Any


def _parameter_grid(parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the parameters (a string or a non-iterable is one value)."""
    options = []
    for name, values in parameters.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            values = [values]
        values = list(values)
        if not values:
            raise ValueError(f"parameters[{name!r}] is empty; give at least one value")
        options.append([(name, v) for v in values])
    return [dict(combo) for combo in itertools.product(*options)]


def collected_steps(n_records: int, period: int) -> list[int]:
    """The steps to report of ``n_records`` (steps ``0 .. n_records - 1``): every
    ``period``-th and always the last; ``period = -1`` only the last."""
    last = n_records - 1
    steps = list(range(0, n_records, period)) if period > 0 else []
    if not steps or steps[-1] != last:
        steps.append(last)
    return steps


def _check_period(period: int) -> None:
    if not isinstance(period, int) or period == 0 or period < -1:
        raise ValueError(
            f"data_collection_period: give -1 (the last step only) or a positive integer, "
            f"got {period!r}"
        )


def _one_run(
    model_cls: type, run: tuple[int, int, dict[str, Any]], max_steps: int, period: int
) -> list[dict[str, Any]]:
    from agents.participant_table import PARTICIPANTS_TABLE

    run_id, iteration, kwargs = run
    model = model_cls(**kwargs)
    while model.running and model.steps < max_steps:
        model.step()
    collector = model.datacollector
    model_vars = collector.model_vars
    n_records = len(next(iter(model_vars.values())))
    table = collector.tables.get(PARTICIPANTS_TABLE, {"round": []})
    columns = [c for c in table if c not in ("round", "agent_id")]
    by_step: dict[int, list[int]] = {}
    for row, step in enumerate(table["round"]):
        by_step.setdefault(int(step), []).append(row)
    rows: list[dict[str, Any]] = []
    for step in collected_steps(n_records, period):
        head = {"RunId": run_id, "iteration": iteration, "Step": step, **kwargs}
        head.update({name: values[step] for name, values in model_vars.items()})
        agents = by_step.get(step, [])
        if not agents:
            rows.append(head)
        for row in agents:
            rows.append(
                {**head, "AgentID": table["agent_id"][row], **{c: table[c][row] for c in columns}}
            )
    return rows


def batch_run(
    model_cls: type | None = None,
    parameters: Mapping[str, Any] | None = None,
    number_processes: int | None = 1,
    iterations: int = 1,
    data_collection_period: int = -1,
    max_steps: int = 1000,
    display_progress: bool = True,
) -> list[dict[str, Any]]:
    """Run ``model_cls`` (default :class:`~agents.model.MarketModel`) for every parameter
    combination and iteration, as ``mesa.batch_run`` does, reporting every collected step.

    Args:
        model_cls: the model class; keyword arguments come from ``parameters``.
        parameters: name -> a value or an iterable of values (``{"scenario": [...]}``).
        number_processes: worker processes (``None``: one per CPU); 1 runs here.
        iterations: runs of each combination (a seeded scenario repeats itself exactly).
        data_collection_period: report every this many steps and the last (-1: the last only).
        max_steps: stop a run after this many steps even if it is still running.
        display_progress: a tqdm bar over the runs.
    """
    from tqdm.auto import tqdm

    _check_period(data_collection_period)
    if model_cls is None:
        from agents.model import MarketModel

        model_cls = MarketModel
    runs = [
        (run_id, iteration, kwargs)
        for run_id, (iteration, kwargs) in enumerate(
            (i, k) for i in range(iterations) for k in _parameter_grid(parameters or {})
        )
    ]
    work = partial(_one_run, model_cls, max_steps=max_steps, period=data_collection_period)
    results: list[dict[str, Any]] = []
    with tqdm(total=len(runs), disable=not display_progress, desc="batch_run") as bar:
        if number_processes == 1:
            for run in runs:
                results.extend(work(run))
                bar.update()
        else:
            with get_context("spawn").Pool(number_processes) as pool:  # torch is not fork-safe
                for rows in pool.imap(work, runs):
                    results.extend(rows)
                    bar.update()
    return results
