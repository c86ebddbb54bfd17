"""Regression: every example scenario, shrunk to the tiny model, gives the recorded tables.

A refactor must not change what a scenario computes, and a new column must be recorded here
before it counts as guarded (a column or summary key missing from the file fails the test).
``golden_examples.json`` holds the rounds, participants and summary of each shipped example
run on the tiny random BERT for two rounds (timings left out). A change that alters the
numbers *on purpose* (a new default mechanism, say) regenerates the file and says so in its
commit:

    python tests/agents/test_regression_examples.py   # rewrites golden_examples.json
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).with_name("golden_examples.json")
TIMING = ("seconds",)


def shrink(scenario: Any) -> Any:
    """The example on the tiny model: two rounds, small validation set, short texts.

    An encoder backbone becomes the tiny random BERT, a causal one (``smollm2``) the tiny
    random Llama, so the causal path is what its example's golden entry records."""
    from fl_core.config import CAUSAL_BACKBONES

    causal = scenario.model.backbone in CAUSAL_BACKBONES
    for path, value in (
        ("model.backbone", "tiny_causal" if causal else "tiny"),
        ("data.val_size", 100),
        ("data.max_length", 48),
        ("data.utility_subset", 100),
        ("rounds", 2),
    ):
        scenario = scenario.replace(path, value)
    return scenario


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def tables_of(name: str) -> dict[str, Any]:
    from agents import run
    from agents.scenario import load_example

    result = run(shrink(load_example(name)))
    keep = lambda key: not any(t in key for t in TIMING)  # noqa: E731
    rounds = [
        {k: _clean(v) for k, v in row.items() if keep(k)}
        for row in result.rounds.to_dict("records")
    ]
    parts = [
        {k: _clean(v) for k, v in row.items()} for row in result.participants.to_dict("records")
    ]
    summary = {k: _clean(v) for k, v in result.summary.items() if keep(k)}
    return {"rounds": rounds, "participants": parts, "summary": summary}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            return False
        # a float32 GEMM's last bits vary with the BLAS/torch thread layout a test session
        # leaves behind (seen: 1e-8 relative in head-mode contributions when the file runs
        # after other tests, 1e-5 in the payments derived from them); 1e-4 absorbs that and
        # no behaviour change
        return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4)
    return bool(a == b)


def _diff(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    problems = []
    for table in ("rounds", "participants"):
        if len(expected[table]) != len(actual[table]):
            problems.append(f"{table}: {len(actual[table])} rows, expected {len(expected[table])}")
            continue
        for i, (want, got) in enumerate(zip(expected[table], actual[table], strict=True)):
            unrecorded = sorted(set(got) - set(want))
            if unrecorded:  # a new column must be recorded, or a later change to it goes unseen
                problems.append(f"{table}[{i}]: columns {unrecorded} are not in the golden file")
            for key, value in want.items():
                if key not in got or not _same(value, got[key]):
                    problems.append(f"{table}[{i}].{key}: {got.get(key)!r} != {value!r}")
    unrecorded = sorted(set(actual["summary"]) - set(expected["summary"]))
    if unrecorded:
        problems.append(f"summary: keys {unrecorded} are not in the golden file")
    for key, value in expected["summary"].items():
        if key not in actual["summary"] or not _same(value, actual["summary"][key]):
            problems.append(f"summary.{key}: {actual['summary'].get(key)!r} != {value!r}")
    return problems


def _examples() -> list[str]:
    return sorted(json.loads(GOLDEN.read_text())) if GOLDEN.is_file() else []


@pytest.mark.parametrize("name", _examples())
def test_example_tables_unchanged(name: str) -> None:
    expected = json.loads(GOLDEN.read_text())[name]
    problems = _diff(expected, tables_of(name))
    assert not problems, f"{name}: {len(problems)} differences, first: {problems[:5]}"


def test_every_example_has_golden_tables() -> None:
    from agents.scenario import list_examples

    assert set(list_examples()) <= set(_examples())


if __name__ == "__main__":
    from agents.scenario import list_examples

    names = sys.argv[1:] or list_examples()
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    for example in names:
        print("recording", example, flush=True)
        golden[example] = tables_of(example)
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
