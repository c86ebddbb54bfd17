from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agents import ParticipantGroup, Scenario
from agents.scenario import (
    DataSection,
    MarketSection,
    ModelSection,
    PrivacySection,
    TrainSection,
)


def tiny_scenario(
    *groups: ParticipantGroup, rounds: int = 2, seed: int = 0, **market: object
) -> Scenario:
    """A scenario on the tiny random BERT in head mode: a round takes well under a second.

    Updates travel in the clear here (tests that need secure aggregation turn it on)."""
    return Scenario(
        name="tiny",
        rounds=rounds,
        seed=seed,
        model=ModelSection(backbone="tiny", mode="head"),
        data=DataSection(val_size=100, max_length=48, utility_subset=100),
        train=TrainSection(lr=0.05),
        privacy=PrivacySection(secure_aggregation=False),
        market=MarketSection(**{"scoring": "exact", "utility_metric": "neg_loss", **market}),  # type: ignore[arg-type]
        participants=groups or (ParticipantGroup("honest", count=3, data_size=60),),
    )


def run_on_loopback_ray_head(module: str, out: Path) -> None:
    """Run ``python -m module out`` in a network namespace of its own (loopback only), where
    the module starts and stops its local Ray head; skip where that cannot be done.

    The child gets ``out`` as HOME: a Ray token another tool left in ``~/.ray`` must not
    reach this head.
    """
    if importlib.util.find_spec("ray") is None:
        pytest.skip("the ray extra is not installed")
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to give the Ray head a loopback-only network")
    root = Path(__file__).resolve().parents[2]
    script = f"ip link set lo up && cd {root} && {sys.executable} -m {module} {out}"
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HOME": str(out)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
