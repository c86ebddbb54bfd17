"""The command line, run as a user would: a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd


def _fedmarket(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_fedavg_writes_tables(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _fedmarket(
        "fedavg",
        "--backbone",
        "tiny",
        "--mode",
        "head",
        "--clients",
        "3",
        "--rounds",
        "1",
        "--lr",
        "0.05",
        "--out",
        str(out),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    for name in ("rounds", "clients"):
        assert pd.read_parquet(out / f"{name}.parquet").equals(
            pd.read_parquet(out / f"{name}.parquet")
        )
        assert (out / f"{name}.csv").exists()
    rounds = pd.read_csv(out / "rounds.csv")
    assert list(rounds["round"]) == [0, 1]
    assert "final test accuracy" in done.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _fedmarket("fedavg", "--data", str(tmp_path / "missing.csv"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "missing.csv" in done.stderr and "Traceback" not in done.stderr
