"""Run the same sweep on a local Ray head and on local processes; write both tables.

Started by ``test_sweep.py`` inside a fresh network namespace that holds only the loopback
interface, so the Ray head (which binds some services to every interface) can only ever be
reached on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from agents import ParticipantGroup, sweep
from tests.agents.conftest import tiny_scenario

GRID = {"market.mechanism": ["proportional", "flat"]}


def main(out: Path) -> None:
    base = tiny_scenario(
        ParticipantGroup("honest", count=2, data_size=40),
        ParticipantGroup("riders", count=1, data_size=40, strategy="free_rider"),
        rounds=1,
    )
    ray_bin = str(Path(sys.executable).parent / "ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: unix socket paths are limited
    port = "6390"
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
        on_ray = sweep(base, GRID, seeds=[0, 1], backend="ray", address=f"127.0.0.1:{port}")
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)
    local = sweep(base, GRID, seeds=[0, 1], backend="process", workers=2)
    on_ray.to_parquet(out / "ray.parquet")
    local.to_parquet(out / "process.parquet")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
