"""Sweeps: grid expansion, the process backend, and identical rows on a local Ray head."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agents import ParticipantGroup, ScenarioError, sweep
from agents.sweep import expand

from .conftest import run_on_loopback_ray_head, tiny_scenario

GRID = {"market.mechanism": ["proportional", "flat"]}


def _base():  # type: ignore[no-untyped-def]
    return tiny_scenario(
        ParticipantGroup("honest", count=2, data_size=40),
        ParticipantGroup("riders", count=1, data_size=40, strategy="free_rider"),
        rounds=1,
    )


def _stable(frame: pd.DataFrame) -> pd.DataFrame:
    timing = [c for c in frame if c.endswith("seconds")]
    return frame.drop(columns=timing).reset_index(drop=True)


def test_expand_covers_grid_times_seeds_and_rejects_bad_paths() -> None:
    runs = expand(_base(), {**GRID, "participants.riders.count": [0, 2]}, seeds=[0, 1])
    assert len(runs) == 2 * 2 * 2
    assert {r[1].seed for r in runs} == {0, 1}
    with pytest.raises(ScenarioError, match="market.nope"):
        expand(_base(), {"market.nope": [1]}, seeds=[0])
    with pytest.raises(ScenarioError, match="grid.market.mechanism"):
        expand(_base(), {"market.mechanism": "flat"}, seeds=[0])


def test_process_backend_equals_serial() -> None:
    serial = sweep(_base(), GRID, seeds=[0], backend="serial")
    process = sweep(_base(), GRID, seeds=[0], backend="process", workers=2)
    assert list(serial["market.mechanism"]) == ["proportional", "flat"]
    pd.testing.assert_frame_equal(_stable(serial), _stable(process))
    # the platform screens the free rider's empty update out before any mechanism pays, so
    # even the flat baseline pays it nothing; the honest participants share the budget
    by_mechanism = serial.set_index("market.mechanism")
    assert (by_mechanism["reward_share_free_rider"] == 0).all()
    assert (by_mechanism["reward_share_honest"] > 0).all()


@pytest.mark.ray
def test_ray_backend_on_a_local_head_gives_identical_rows(tmp_path: Path) -> None:
    run_on_loopback_ray_head("tests.agents.ray_netns_run", tmp_path)
    on_ray = pd.read_parquet(tmp_path / "ray.parquet")
    local = pd.read_parquet(tmp_path / "process.parquet")
    assert len(on_ray) == 4
    pd.testing.assert_frame_equal(_stable(on_ray), _stable(local))
