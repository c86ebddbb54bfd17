"""``run(..., on_progress=...)``: the frozen-embedding cache reports its batches (for a UI).

Mutation tried: calling ``on_progress`` once before the batch loop instead of per batch
makes ``test_empty_cache_reports_every_batch`` fail (no ``done == total`` per split).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import run
from tests.agents.conftest import tiny_scenario


def _calls(scenario: object) -> list[tuple[int, int, str]]:
    calls: list[tuple[int, int, str]] = []
    run(scenario, on_progress=lambda d, t, label: calls.append((d, t, label)))  # type: ignore[arg-type]
    return calls


def test_empty_cache_reports_every_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: an empty cache folder
    monkeypatch.setenv("FEDMARKET_CACHE", str(tmp_path))
    scenario = tiny_scenario(rounds=1)

    # Execute
    calls = _calls(scenario)

    # Assert: first the model, then each split's batches 1..total in order
    assert calls[0] == (0, 1, "loading the model and the data")
    by_split: dict[str, list[tuple[int, int]]] = {}
    for done, total, label in calls[1:]:
        by_split.setdefault(label.split(":")[0], []).append((done, total))
    assert set(by_split) == {"val", "test", "train"}
    for steps in by_split.values():
        total = steps[0][1]
        assert steps == [(k, total) for k in range(1, total + 1)]


def test_warm_cache_reports_no_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: a cache filled by a first run
    monkeypatch.setenv("FEDMARKET_CACHE", str(tmp_path))
    scenario = tiny_scenario(rounds=1)
    _calls(scenario)

    # Execute: the same scenario again, on the filled disk cache
    calls = _calls(scenario)

    # Assert: only the model-loading step, no embedding batches left to compute
    assert calls == [(0, 1, "loading the model and the data")]
