from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
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


def head_scenario(
    name: str,
    groups: tuple[ParticipantGroup, ...],
    *,
    backbone: str,
    data: DataSection,
    train: TrainSection,
    rounds: int,
    seed: int,
    **market: object,
) -> Scenario:
    """A scenario with a federated head on a frozen ``backbone``, updates in the clear."""
    return Scenario(
        name=name,
        rounds=rounds,
        seed=seed,
        model=ModelSection(backbone=backbone, mode="head"),
        data=data,
        train=train,
        privacy=PrivacySection(secure_aggregation=False),
        market=MarketSection(**market),  # type: ignore[arg-type]  # fields by name
        participants=groups,
    )


def tiny_scenario(
    *groups: ParticipantGroup, rounds: int = 2, seed: int = 0, **market: object
) -> Scenario:
    """A scenario on the tiny random BERT in head mode: a round takes well under a second.

    Updates travel in the clear here (tests that need secure aggregation turn it on)."""
    return head_scenario(
        "tiny",
        groups or (ParticipantGroup("honest", count=3, data_size=60),),
        backbone="tiny",
        data=DataSection(val_size=100, max_length=48, utility_subset=100),
        train=TrainSection(lr=0.05),
        rounds=rounds,
        seed=seed,
        **{"scoring": "exact", "utility_metric": "neg_loss", **market},
    )


def fedmarket(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``fedmarket ARGS`` as a user runs it: a fresh interpreter, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextlib.contextmanager
def local_ray_head(port: int) -> Iterator[str]:
    """A Ray head on 127.0.0.1:``port`` (2 CPUs, no dashboard) for the ``with`` block; its
    address. Run it inside `run_on_loopback_ray_head`'s namespace only."""
    ray_bin = str(Path(sys.executable).parent / "ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: unix socket paths are limited
    subprocess.run(
        [
            ray_bin,
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=240,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)


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
