"""``bench.call_path``: one run passes few calls across files and rarely returns to a file it
left (issue 28: at most 20 calls, at most 5 into a file already entered)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def call_path(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(ROOT))
    import bench.call_path

    return bench.call_path


def test_one_run_stays_within_the_call_budget(call_path) -> None:  # type: ignore[no-untyped-def]
    calls, files, back = call_path.measure(depth=2)
    assert any(c.callee == "agents/results_io.py" for c in calls)  # it reached the tables
    assert len(calls) <= 20 and back <= 5, [f"{c.callee}:{c.function}" for c in calls]


def test_returns_count_each_call_into_a_file_already_entered(call_path) -> None:  # type: ignore[no-untyped-def]
    Call = call_path.Call
    bouncing = [Call(1, "a.py", "b.py", "f"), Call(1, "a.py", "c.py", "g")]
    bouncing += [Call(1, "a.py", "b.py", "h"), Call(2, "b.py", "c.py", "k")]
    assert call_path.returns(bouncing) == 2
    assert call_path.returns(bouncing[:2]) == 0
