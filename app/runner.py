"""Cached calls into the library with live progress (the only place the app runs anything).

``run_scenario`` and ``run_sweep`` are ``st.cache_data`` functions keyed by the (hashable)
scenario, so the same scenario never runs twice. Their progress bar and per-round table are
created *inside* the cached function: Streamlit records them and replays them on a cache hit,
so a cached result shows its finished progress at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

import agents
from agents import RunResult, Scenario, ScenarioError
from agents.scenario import check_compatible
from agents.sweep import expand
from app.state import one_line

#: Round columns shown live while a run is in progress.
LIVE_COLUMNS = (
    "round",
    "val_accuracy",
    "test_accuracy",
    "joined",
    "included",
    "budget_paid",
    "exposed_clients",
)
SWEEP_BACKENDS = ("auto", "serial", "process")


@st.cache_resource(show_spinner="Loading the tokenizer of the base model...")
def base_tokenizer() -> Any:
    """Warm the MiniLM tokenizer (the ``minilm`` and tiny backbones') once per server process.

    ``fl_core.model.load_tokenizer`` caches one instance per tokenizer, so the first run a
    page starts does not pay for loading it; a ``smollm2`` run loads its own BPE tokenizer
    on first use.
    """
    from fl_core.model import load_tokenizer

    return load_tokenizer()


def check(scenario: Scenario) -> None:
    """Cross-section checks of the library (raises a one-line ``ScenarioError``)."""
    check_compatible(scenario)


def valid_or_stop(scenario: Scenario) -> None:
    """Show ``scenario``'s one-line error and stop the page unless it is valid (:func:`check`)."""
    try:
        check(scenario)
    except ScenarioError as error:
        st.error(one_line(error), icon=":material/error:")
        st.stop()


def download(
    where: Any, label: str, data: str | bytes, file_name: str, key: str, mime: str = "text/csv"
) -> None:
    """A download button in ``where`` (``st`` or a column) that does not rerun the page."""
    where.download_button(
        label,
        data,
        file_name=file_name,
        mime=mime,
        key=key,
        on_click="ignore",
        icon=":material/download:",
    )


@st.cache_data(show_spinner=False, max_entries=32)
def run_scenario(scenario: Scenario) -> RunResult:
    """``agents.run(scenario)`` with a progress bar and each round's row as it comes."""
    bar = st.progress(0.0, text=f"{scenario.name}: building the model and the data...")
    table = st.empty()
    rows: list[dict[str, Any]] = []

    def on_round(row: dict[str, Any]) -> None:
        rows.append({column: row[column] for column in LIVE_COLUMNS})
        done = int(row["round"])
        bar.progress(
            done / scenario.rounds,
            text=f"{scenario.name}: round {done}/{scenario.rounds}, "
            f"test accuracy {row['test_accuracy']:.3f}",
        )
        table.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

    def on_progress(done: int, total: int, label: str) -> None:
        # the frozen-embedding cache is filled before round 0 (slow on a first, empty cache)
        bar.progress(
            min(done / max(total, 1), 1.0),
            text=f"{scenario.name}: building the model and the data: {label} "
            f"({done}/{total} batches)"
            if done
            else f"{scenario.name}: {label}...",
        )

    result = agents.run(scenario, on_round=on_round, on_progress=on_progress)
    bar.progress(1.0, text=f"{scenario.name}: {scenario.rounds} rounds done")
    return result


@st.cache_data(show_spinner=False, max_entries=16)
def run_sweep(
    base: Scenario,
    grid: tuple[tuple[str, tuple[Any, ...]], ...],
    seeds: tuple[int, ...],
    backend: str = "auto",
    workers: int = 2,
) -> pd.DataFrame:
    """``agents.sweep(base, grid, seeds=seeds)`` with a progress bar moved per finished run."""
    if backend not in SWEEP_BACKENDS:
        raise agents.ScenarioError("backend", f"{backend!r} is not one of {SWEEP_BACKENDS}")
    runs = expand(base, dict(grid), seeds)
    for _, scenario in runs:
        check_compatible(scenario)
    bar = st.progress(0.0, text=f"sweep: 0/{len(runs)} runs")
    done = [0]

    def finished(_params: dict[str, Any], _summary: dict[str, Any]) -> None:
        done[0] += 1
        bar.progress(done[0] / len(runs), text=f"sweep: {done[0]}/{len(runs)} runs")

    return agents.sweep(
        base, dict(grid), seeds=seeds, backend=backend, workers=workers, on_run=finished
    )


def sweep_size(base: Scenario, grid: Mapping[str, Sequence[Any]], seeds: Sequence[int]) -> int:
    """How many runs a sweep has (validates the grid like the library does)."""
    return len(expand(base, grid, seeds))


@st.cache_data(show_spinner=False, max_entries=8)
def run_seeds(scenario: Scenario, seeds: tuple[int, ...]) -> tuple[list[RunResult], pd.DataFrame]:
    """``agents.run.run_seeds`` with a progress bar moved per finished seed."""
    from agents.run import run_seeds as library_run_seeds

    bar = st.progress(0.0, text=f"{scenario.name}: 0/{len(seeds)} seeds")
    done = [0]

    def finished(seed: int, _result: RunResult) -> None:
        done[0] += 1
        bar.progress(done[0] / len(seeds), text=f"{scenario.name}: seed {seed} done")

    return library_run_seeds(scenario, list(seeds), on_run=finished)


#: Session key of the run history (label -> RunResult), newest last.
HISTORY_KEY = "history"
HISTORY_SIZE = 10


def remember(state: Any, result: RunResult) -> None:
    """Add ``result`` to the session's run history (at most ``HISTORY_SIZE``, newest last)."""
    history: dict[str, RunResult] = state.get(HISTORY_KEY) or {}
    s = result.scenario
    label = (
        f"{s.name} · seed {s.seed} · {s.market.mechanism} · {s.market.scoring} · {s.privacy.access}"
    )
    history.pop(label, None)
    history[label] = result
    while len(history) > HISTORY_SIZE:
        history.pop(next(iter(history)))
    state[HISTORY_KEY] = history


@st.cache_data(show_spinner=False, max_entries=8)
def run_attack_matrix(
    base: Scenario,
    mechanisms: tuple[str, ...],
    attacks: tuple[str, ...],
    seeds: tuple[int, ...],
) -> pd.DataFrame:
    """``agents.attacks.attack_matrix`` with a progress bar moved after every run."""
    from agents.attacks import attack_matrix

    bar = st.progress(0.0, text="exploitability: building the model and the data...")

    def moved(done: int, total: int, label: str) -> None:
        bar.progress(done / total, text=f"exploitability: {done}/{total} runs ({label})")

    table = attack_matrix(
        base, mechanisms=list(mechanisms), attacks=list(attacks), seeds=list(seeds), progress=moved
    )
    bar.progress(1.0, text=f"exploitability: {len(table)} games played")
    return table
