"""Same scenario and seed, same tables, in two separate processes.

Issue 8, item 6. ``fedmarket run`` is started twice as a real subprocess, with different
``PYTHONHASHSEED`` values (so nothing may depend on set or dict hashing order), for a
plaintext scenario and a secure-aggregation one (with dropouts and secure coalition
scoring). Every table written as Parquet must be identical bit for bit in all columns except
the wall-clock timings (``*_seconds``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from agents import ParticipantGroup, Scenario
from tests.agents.conftest import tiny_scenario


def _scenarios() -> dict[str, Scenario]:
    plaintext = tiny_scenario(
        ParticipantGroup("honest", count=2, data_size=50),
        ParticipantGroup("rider", count=1, data_size=50, strategy="free_rider"),
        ParticipantGroup("flipper", count=1, data_size=50, strategy="noisy"),
        rounds=2,
        seed=7,
        exploration=0.3,
    )
    secure = (
        plaintext.replace("privacy.secure_aggregation", True)
        .replace("privacy.access", "secure_coalitions")
        .replace("privacy.dropout_rate", 0.3)
        .replace("privacy.neighbors", 2)
    )
    return {"plaintext": plaintext, "secure": secure}


def _run_cli(scenario: Path, out: Path, hash_seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-m", "agents.cli", "run", str(scenario), "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _stable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c.endswith("seconds")])


@pytest.mark.parametrize("kind", ["plaintext", "secure"])
def test_same_seed_gives_identical_tables_in_two_processes(tmp_path: Path, kind: str) -> None:
    # Prepare
    scenario = _scenarios()[kind]
    path = tmp_path / f"{kind}.toml"
    path.write_text(scenario.to_toml(), encoding="utf-8")
    # Execute
    _run_cli(path, tmp_path / "first", hash_seed="1")
    _run_cli(path, tmp_path / "second", hash_seed="4242")
    # Assert
    for name in ("rounds", "participants", "summary"):
        first = pd.read_parquet(tmp_path / "first" / f"{name}.parquet")
        second = pd.read_parquet(tmp_path / "second" / f"{name}.parquet")
        assert len(first) > 0 and list(first.columns) == list(second.columns)
        pd.testing.assert_frame_equal(_stable(first), _stable(second), check_exact=True)
    rounds = pd.read_parquet(tmp_path / "first" / "rounds.parquet")
    assert len(rounds) == scenario.rounds + 1
    if kind == "secure":  # the secure run really went through secure aggregation
        assert (rounds["secagg_bytes"] > 0).any() or rounds["aborted"].any()
        assert (rounds["scoring_secagg_runs"] > 0).any()
