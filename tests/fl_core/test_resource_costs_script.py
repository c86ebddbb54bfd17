"""``examples/resource_costs.py --quick`` writes its CSV and Pareto figure (and its front is
right: a broken front that keeps dominated points must fail the same check).

The script's run takes over 60 s on the shared 2 cores (three fresh interpreters, each
building a task), so it is ``slow`` even on the tiny model."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "resource_costs.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("resource_costs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_front(cost: np.ndarray, acc: np.ndarray, front: list[int]) -> bool:
    """Every point off the front is dominated by one on it; no front point is dominated."""
    on = set(front)
    for i in range(len(cost)):
        beaten = any(
            cost[j] <= cost[i] and acc[j] >= acc[i] and (cost[j] < cost[i] or acc[j] > acc[i])
            for j in range(len(cost))
        )
        if (i in on) == beaten:
            return False
    return True


def test_pareto_front_and_a_broken_front() -> None:
    module = _script()
    rng = np.random.default_rng(0)
    cost, acc = rng.lognormal(size=40), rng.uniform(size=40)
    assert _is_front(cost, acc, module.pareto_front(cost, acc))
    # mutation: "the 5 cheapest points" is not the front
    assert not _is_front(cost, acc, sorted(np.argsort(cost)[:5].tolist()))


@pytest.mark.slow
def test_quick_run_writes_csv_and_png(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--quick", "--backbone", "tiny"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_csv(tmp_path / "resource_costs.csv")
    assert set(table["compression"]) == {"none", "int8", "topk"}
    assert set(table["method"]) == {"head", "lora r2 L1", "full L1"}
    none = table[table["compression"] == "none"].set_index("method")
    assert (none["bytes_per_client_round"] == 4 * none["trainable_params"]).all()
    for method, rows in table.groupby("method"):
        by = rows.set_index("compression")["bytes_per_client_round"]
        assert by["int8"] < by["none"] and by["topk"] < by["none"], method
    assert table["final_test_accuracy"].between(0, 1).all()
    assert table["cpu"].iloc[0] and "CPU:" in done.stdout
    png = (tmp_path / "resource_costs.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
