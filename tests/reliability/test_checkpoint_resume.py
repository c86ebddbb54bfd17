"""Interrupted runs lose nothing: SIGKILL a real run, resume it, get the same tables."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from agents import ParticipantGroup, checkpoint
from tests.agents.conftest import tiny_scenario

ROUNDS = 8


def _scenario_file(tmp_path: Path) -> Path:
    scenario = tiny_scenario(
        ParticipantGroup("honest", count=3, data_size=60),
        ParticipantGroup("rider", count=1, data_size=60, strategy="free_rider"),
        rounds=ROUNDS,
        mechanism="reputation",
        exploration=0.2,
    )
    path = tmp_path / "scenario.toml"
    path.write_text(scenario.to_toml())
    return path


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "agents.cli", "run", *args, "--quiet"]


def _stable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame if c.endswith("seconds")])


def _checkpoint_round(directory: Path) -> int:
    try:  # the JSON document is renamed into place whole: never half-written
        return int(json.loads(checkpoint.path_in(directory).read_text())["round"])
    except (OSError, ValueError, KeyError):
        return 0


def test_sigkill_then_resume_gives_identical_tables(tmp_path: Path) -> None:
    scenario = _scenario_file(tmp_path)
    reference = tmp_path / "reference"
    subprocess.run(_command(str(scenario), "--out", str(reference)), check=True, timeout=600)

    kill_after = int(np.random.default_rng().integers(1, ROUNDS - 2))
    checkpoints = tmp_path / "ckpt"
    victim = subprocess.Popen(
        _command(
            str(scenario), "--out", str(tmp_path / "never"), "--checkpoint-dir", str(checkpoints)
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while _checkpoint_round(checkpoints) < kill_after and time.monotonic() < deadline:
        if victim.poll() is not None:
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    interrupted_at = _checkpoint_round(checkpoints)
    assert 1 <= interrupted_at <= ROUNDS

    resumed = tmp_path / "resumed"
    done = subprocess.run(
        _command(
            str(scenario), "--out", str(resumed), "--checkpoint-dir", str(checkpoints), "--resume"
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    for name in ("rounds", "participants", "summary"):
        expected = _stable(pd.read_parquet(reference / f"{name}.parquet"))
        actual = _stable(pd.read_parquet(resumed / f"{name}.parquet"))
        pd.testing.assert_frame_equal(actual, expected, check_exact=True)


def _resume_error(scenario: Path, checkpoints: Path) -> str:
    """What ``--resume`` says on stderr; it must exit 2 with a single line."""
    done = subprocess.run(
        _command(str(scenario), "--checkpoint-dir", str(checkpoints), "--resume"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    return done.stderr


def test_corrupt_or_foreign_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    scenario = _scenario_file(tmp_path)
    checkpoints = tmp_path / "ckpt"
    checkpoints.mkdir()
    checkpoint.path_in(checkpoints).write_bytes(b'{"format": "fedmarket-checkp')
    error = _resume_error(scenario, checkpoints)
    assert "corrupt" in error

    other = tmp_path / "other.toml"
    other.write_text(scenario.read_text().replace("seed = 0", "seed = 1"))
    subprocess.run(
        _command(
            str(other),
            "--rounds",
            "1",
            "--checkpoint-dir",
            str(checkpoints),
            "--out",
            str(tmp_path / "o"),
        ),
        check=True,
        timeout=300,
        capture_output=True,
    )
    error = _resume_error(scenario, checkpoints)
    assert "different scenario" in error


def test_checkpoint_of_an_older_format_is_a_one_line_error(tmp_path: Path) -> None:
    # a checkpoint written before the state layout changed (format 1: one optimiser group)
    scenario = _scenario_file(tmp_path)
    checkpoints = tmp_path / "ckpt"
    checkpoints.mkdir()
    old = {"format": "fedmarket-checkpoint-1", "scenario_key": "", "state": {}}
    checkpoint.path_in(checkpoints).write_text(json.dumps(old))
    error = _resume_error(scenario, checkpoints)
    assert "another fedmarket version" in error and checkpoint.FORMAT in error, error
    # formats 1-3 were pickles named checkpoint.pkl: refused unread (planted payloads:
    # tests/reliability/test_checkpoint_data_only.py)
    checkpoint.path_in(checkpoints).unlink()
    (checkpoints / "checkpoint.pkl").write_bytes(b"\x80\x05garbage")
    error = _resume_error(scenario, checkpoints)
    assert "old pickle checkpoint" in error, error
