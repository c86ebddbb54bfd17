"""``examples/fm_init_vs_random.py`` and its helpers (``examples/experiment_common.py``).

The helper's FedAvg loop is run_fedavg's (same seed: same per-round validation accuracy),
counts both directions of traffic, and rounds-to-target finds the first crossing (a broken
"last round" variant must fail the same check); the summary calls a clear gap significant
and a gap inside the noise "none". The quick run (tiny model) writes every output."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPT = EXAMPLES / "fm_init_vs_random.py"


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_run_arm_is_run_fedavg_and_counts_traffic() -> None:
    from fl_core import DataConfig, ModelConfig, TrainConfig, run_fedavg

    common = _load("experiment_common")
    setup = common.Setup(
        backbone="tiny", n_clients=2, samples_per_client=16, rounds=2, max_length=16, val_size=40
    )
    arm = common.Arm("lora", "pretrained", "lora", (5e-3,))
    run = common.run_arm(setup, arm, 5e-3, 7)
    cfg = common.fedavg_config(setup, 7)
    reference = run_fedavg(
        type(cfg)(
            **{
                **cfg.__dict__,
                "data": DataConfig(val_size=40, max_length=16),
                "model": ModelConfig(backbone="tiny", lora_rank=8, adapted_layers=1),
                "train": TrainConfig(device="cpu", lr=5e-3, local_epochs=1.0),
            }
        )
    )
    ours = [r["val_accuracy"] for r in run.rounds]
    assert ours == pytest.approx(reference.rounds["val_accuracy"].tolist(), abs=1e-9)
    per_round = reference.clients.groupby("round")[["bytes_up", "bytes_down"]].sum()
    assert run.rounds[-1]["bytes_up"] == per_round["bytes_up"].sum()
    assert run.rounds[-1]["bytes_down"] == per_round["bytes_down"].sum()
    assert run.rounds[-1]["bytes_down"] == 2 * 2 * 4 * run.trainable_params


def test_rounds_to_target_is_the_first_crossing() -> None:
    common = _load("experiment_common")
    rounds = [
        {"round": r, "val_accuracy": a, "bytes_up": 10 * r, "bytes_down": 20 * r}
        for r, a in enumerate([0.9, 0.5, 0.8, 0.6, 0.85])  # round 0 never counts
    ]

    def check(find: object) -> bool:
        return find(rounds, 0.75) == (2.0, 60.0) and np.isnan(find(rounds, 0.95)[0])  # type: ignore[operator]

    assert check(common.rounds_to_target)

    def last_crossing(rows: list[dict[str, float]], target: float) -> tuple[float, float]:
        hits = [r for r in rows if r["round"] > 0 and r["val_accuracy"] >= target]
        if not hits:
            return float("nan"), float("nan")
        return float(hits[-1]["round"]), float(hits[-1]["bytes_up"] + hits[-1]["bytes_down"])

    assert not check(last_crossing)  # the broken variant


def test_summary_verdicts() -> None:
    script = _load("fm_init_vs_random")
    rng = np.random.default_rng(0)
    rows = []
    for partition, gap in (("IID", 0.2), ("alpha=0.1", 0.0)):
        for seed in range(5):
            base = 0.5 + 0.05 * rng.standard_normal()
            for arm, shift in ((script.FM, gap), (script.RANDOM, 0.0)):
                rows.append(
                    {
                        "task": "t",
                        "partition": partition,
                        "arm": arm,
                        "seed": seed,
                        "lr": 1e-3,
                        "test_accuracy": base + shift + 0.01 * rng.standard_normal(),
                        "rounds_to_target": np.nan,
                        "bytes_to_target": np.nan,
                        "mb_per_round": 1.0,
                    }
                )
    summary = script.summarize(pd.DataFrame(rows)).set_index(["partition", "arm"])
    assert summary.loc[("IID", script.FM), "verdict"] == "significant"
    assert summary.loc[("alpha=0.1", script.FM), "verdict"] == "none (inside the noise)"
    assert summary.loc[("IID", script.FM), "difference"] == pytest.approx(0.2, abs=0.03)


@pytest.mark.slow
def test_quick_run_writes_tables_figure_and_caption(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    runs = pd.read_csv(tmp_path / "fm_init.csv")
    assert set(runs["arm"]) == {"pretrained LoRA", "random full"}
    assert set(runs["partition"]) == {"IID", "alpha=0.1"}
    assert runs.groupby(["task", "partition", "arm"]).size().eq(2).all()
    assert runs["test_accuracy"].between(0, 1).all()
    full = runs[runs["arm"] == "random full"]["trainable_params"].iloc[0]
    lora = runs[runs["arm"] == "pretrained LoRA"]["trainable_params"].iloc[0]
    assert full > 50 * lora  # every weight against adapters and a head
    for suffix in ("png", "svg", "md"):
        assert (tmp_path / f"fm_init.{suffix}").stat().st_size > 1000
    assert (tmp_path / "fm_init.png").read_bytes().startswith(b"\x89PNG")
    assert "What to conclude" in (tmp_path / "fm_init.md").read_text()
