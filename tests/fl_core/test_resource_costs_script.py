"""``examples/resource_costs.py --quick`` writes its tables, figure and caption (and its
Pareto front is right: a broken front that keeps dominated points must fail the same check).

The script's run takes minutes on the shared 2 cores (a fresh interpreter per method and
task, each building a task), so it is ``slow`` even on the tiny model."""

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
REPORT = SCRIPT.with_name("resource_costs_report.py")


def _script() -> ModuleType:
    """The script's report module (the Pareto front, the summary and the caption)."""
    sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("resource_costs_report", REPORT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["resource_costs_report"] = module  # dataclasses look their module up
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
        [
            sys.executable, str(SCRIPT), "--out", str(tmp_path), "--quick", "--backbone", "tiny",
            "--tasks", "amazon_reviews", "--threads", "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_csv(tmp_path / "resource_costs.csv")
    assert set(table["method"]) == {"head", "LoRA r8 L1", "full L1", "small L1, full L1"}
    assert table.groupby("method").size().eq(2).all()  # 2 seeds each
    one = table[table["seed"] == 0].set_index("method")
    # traffic: every client downloads and uploads the float32 vector every round (2 x 2)
    assert (one["mb_up"] == one["mb_down"]).all()
    assert np.allclose(one["mb_sent"] * 1e6, 2 * 2 * 2 * 4 * one["trainable_params"])
    assert (
        one.loc["head", "mb_sent"]
        < one.loc["LoRA r8 L1", "mb_sent"]
        < one.loc["full L1", "mb_sent"]
    )
    # the truncated model trains the same layer shape as "full L1" and is smaller overall
    assert (
        one.loc["small L1, full L1", "trainable_params"] == one.loc["full L1", "trainable_params"]
    )
    assert table["test_accuracy"].between(0, 1).all() and (table["peak_rss_mb"] > 50).all()
    assert table["cpu"].iloc[0] and "CPU:" in done.stdout
    tuning = pd.read_csv(tmp_path / "resource_costs_tuning.csv")
    assert set(tuning["method"]) == set(table["method"])
    for suffix in ("png", "svg", "md"):
        assert (tmp_path / f"resource_costs.{suffix}").stat().st_size > 1000
    png = (tmp_path / "resource_costs.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "What to conclude" in (tmp_path / "resource_costs.md").read_text()
