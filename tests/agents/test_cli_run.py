"""``fedmarket run`` and ``fedmarket sweep`` as a user runs them (real subprocesses)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .conftest import fedmarket, tiny_scenario


def test_run_writes_tables_and_prints_a_summary(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(tiny_scenario(rounds=2).to_toml())
    out = tmp_path / "out"
    done = fedmarket("run", str(scenario), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    for name in ("rounds", "participants", "summary"):
        assert (out / f"{name}.csv").exists()
        frame = pd.read_parquet(out / f"{name}.parquet")
        assert len(frame) > 0
    assert "payoff by strategy" in done.stdout and "fairness" in done.stdout


def test_sweep_file_runs(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text(tiny_scenario(rounds=1).to_toml())
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        'base = "base.toml"\nseeds = [0]\nbackend = "serial"\n'
        '[grid]\n"market.mechanism" = ["flat", "proportional"]\n'
    )
    done = fedmarket("sweep", str(spec), "--out", str(tmp_path / "o"), "--quiet")
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(tmp_path / "o" / "sweep.csv")
    assert list(frame["market.mechanism"]) == ["flat", "proportional"]


def test_bad_scenario_is_one_line_with_exit_2(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text("rounds = 2\n[market]\nmechanism = 'lottery'\n")
    done = fedmarket("run", str(scenario), "--quiet")
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "\n" not in line and "market.mechanism" in line and "Traceback" not in line


def test_an_unknown_name_lists_the_shipped_examples(tmp_path: Path) -> None:
    from agents.scenario import list_examples

    done = fedmarket("run", "nosuch", "--quiet")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "neither a file nor a shipped example" in done.stderr
    assert all(name in done.stderr for name in list_examples())


def test_a_scenario_given_to_sweep_says_so(tmp_path: Path) -> None:
    done = fedmarket("sweep", "free_riders", "--quiet", "--out", str(tmp_path / "never"))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert (
        "is a scenario, not a sweep" in done.stderr and "fedmarket run free_riders" in done.stderr
    )


def test_exposed_clients_are_counted_once_per_participant() -> None:
    """``exposed_clients_total`` sums client-rounds; ``_distinct`` counts participants."""
    from agents.run import run

    scenario = tiny_scenario(rounds=3).replace("privacy.secure_aggregation", False)
    result = run(scenario)
    parts = result.participants
    exposed = parts[parts["exposed"]]
    assert result.summary["exposed_clients_distinct"] == exposed["participant"].nunique() > 0
    assert (
        result.summary["exposed_clients_total"] == len(exposed) > exposed["participant"].nunique()
    )
    rounds = result.rounds.set_index("round")
    assert (
        exposed.groupby("round").size() == rounds.loc[exposed["round"].unique(), "exposed_clients"]
    ).all()
