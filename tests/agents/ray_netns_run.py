"""Run the same sweep on a local Ray head and on local processes; write both tables.

Started by ``test_sweep.py`` inside a fresh network namespace that holds only the loopback
interface, so the Ray head (which binds some services to every interface) can only ever be
reached on 127.0.0.1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents import ParticipantGroup, sweep
from tests.agents.conftest import local_ray_head, tiny_scenario

GRID = {"market.mechanism": ["proportional", "flat"]}


def main(out: Path) -> None:
    base = tiny_scenario(
        ParticipantGroup("honest", count=2, data_size=40),
        ParticipantGroup("riders", count=1, data_size=40, strategy="free_rider"),
        rounds=1,
    )
    with local_ray_head(6390) as address:
        on_ray = sweep(base, GRID, seeds=[0, 1], backend="ray", address=address)
    local = sweep(base, GRID, seeds=[0, 1], backend="process", workers=2)
    on_ray.to_parquet(out / "ray.parquet")
    local.to_parquet(out / "process.parquet")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
