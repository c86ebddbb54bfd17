"""``examples/synthetic_data.py``: its splits are disjoint, and ``--quick`` on the tiny
models writes every table, figure and caption (the run: about a minute, so ``slow``).

Mutations caught: a client set that overlaps the non-members or the judge's split
(test_split_is_disjoint_and_balanced); a reserve draw that ignores the wanted labels
(test_same_labels_matches_the_class_counts).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "synthetic_data.py"
SETUP = SCRIPT.with_name("synthetic_setup.py")


def _script() -> ModuleType:
    """The script's set-up module (splits and draws), loaded as the script loads it."""
    spec = importlib.util.spec_from_file_location("synthetic_setup", SETUP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_split_is_disjoint_and_balanced() -> None:
    module = _script()
    labels = np.repeat([0, 1, 2], [300, 200, 100])
    split = module.split_pool(labels, 8, np.random.default_rng(0))
    parts = [split.client, split.nonmember, split.ref, split.judge, split.real_eval, split.reserve]
    joined = np.concatenate(parts)
    assert len(joined) == len(set(joined.tolist())) == len(labels)
    for part in (split.client, split.nonmember):
        assert np.bincount(labels[part], minlength=3).tolist() == [8, 8, 8]
    again = module.split_pool(labels, 8, np.random.default_rng(0))
    assert np.array_equal(again.judge, split.judge)


def test_same_labels_matches_the_class_counts() -> None:
    module = _script()
    labels = np.repeat([0, 1], [50, 50])
    reserve = np.arange(100)
    wanted = np.array([0, 0, 0, 1])
    picked = module.same_labels(reserve, labels, wanted, np.random.default_rng(1))
    assert sorted(labels[picked].tolist()) == [0, 0, 0, 1]
    assert len(set(picked.tolist())) == 4


@pytest.mark.slow
def test_quick_run_writes_tables_figures_and_captions(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--out",
            str(tmp_path),
            "--quick",
            "--backbone",
            "tiny",
            "--tasks",
            "amazon_reviews",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path / "figures"
    for name in ("quality", "usefulness"):
        for ext in ("png", "svg"):
            assert (folder / f"synthetic_{name}.{ext}").stat().st_size > 1000
    runs = pd.read_csv(folder / "synthetic_runs.csv")
    assert list(runs.columns) == ["task", "seed", "condition", "metric", "value"]
    assert set(runs["seed"]) == {0, 1} and set(runs["condition"]) == {
        "real",
        "matched",
        "mismatched",
    }
    texts = pd.read_csv(folder / "synthetic_texts.csv")
    assert len(texts) == 2 * (2 * 8 + 2 * 8)  # seeds x (matched + mismatched) answers
    kept = texts["fate"] == "kept"
    share = runs[(runs["metric"] == "kept_share") & (runs["condition"] == "matched")]["value"]
    matched = texts[texts["condition"] == "matched"]
    assert share.mean() == pytest.approx((matched["fate"] == "kept").mean())
    assert kept.sum() < len(texts)  # random tiny-model text: the filter drops most of it
    caption = (folder / "synthetic_data.md").read_text()
    assert "Usable" in caption and "synthetic_quality.png" in caption
