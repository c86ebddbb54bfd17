"""The adversary gym on the tiny model: games, payoffs, the CLI's input checks and files."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from agents import ParticipantGroup
from agents.attacks import ATTACKER, ATTACKS, attack_matrix, attacker_groups, games
from agents.scenario import ScenarioError
from tests.agents.conftest import tiny_scenario


def test_every_attack_and_its_twin_differ_only_in_strategy_fields() -> None:
    base = tiny_scenario(ParticipantGroup("honest", count=2, data_size=40))
    for name in ATTACKS:
        attacker, twin = attacker_groups(base, name)
        assert twin.strategy == "honest" and attacker.name == twin.name == ATTACKER
        assert attacker.data_size == twin.data_size and attacker.count == twin.count
        assert attacker != twin


def test_unknown_names_fail_with_the_field() -> None:
    base = tiny_scenario()
    with pytest.raises(ScenarioError, match="attacks"):
        games(base, ["banzhaf_cover"], ["teleport"], [0])
    with pytest.raises(ScenarioError, match="mechanisms"):
        games(base, ["nope"], ["sign_flip"], [0])


def test_matrix_on_tiny_model_reports_gains_against_the_twin() -> None:
    base = tiny_scenario(ParticipantGroup("honest", count=2, data_size=40), rounds=2)
    calls: list[int] = []
    table = attack_matrix(
        base,
        mechanisms=["banzhaf_cover", "flat"],
        attacks=["free_ride_zero", "sybil_split"],
        seeds=[0],
        progress=lambda done, total, label: calls.append(done),
    )
    assert len(table) == 4 and calls == list(range(1, 7))
    row = table.set_index(["mechanism", "attack"])
    # flat pays per identity: a Sybil owner of 3 identities gets more than its twin
    assert row.loc[("flat", "sybil_split"), "gain"] > 0
    # the screen rejects a zero update: paid nothing under the default mechanism
    assert row.loc[("banzhaf_cover", "free_ride_zero"), "attack_payoff"] == 0.0
    # one seed has no spread: not a misleading 0.0
    assert table["gain_std"].isna().all() and (table["seeds"] == 1).all()


def test_cli_rejects_a_bad_attack_fast_without_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from agents.cli import main; sys.argv=['fedmarket','attack-matrix',"
        f"'quickstart','--attack','teleport','--out',{str(tmp_path)!r}]\n"
        "try:\n main()\nexcept SystemExit as e:\n"
        " print('torch' in sys.modules); raise"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds, not wall time (the test machine is shared); importing torch alone costs more
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) < 4
    assert done.returncode == 2
    assert done.stdout.strip() == "False"
    assert done.stderr.count("\n") == 1 and "attacks" in done.stderr and "teleport" in done.stderr


def test_attack_matrix_figure_is_written_as_png_and_svg(tmp_path: Path) -> None:
    import matplotlib.image
    import pandas as pd

    from agents.attacks import plot_matrix

    table = pd.DataFrame(
        {
            "mechanism": ["pooled_value", "pooled_value", "flat", "flat"],
            "attack": ["sybil_split", "replay", "sybil_split", "replay"],
            "relative_gain": [0.1, -0.9, 1.2, float("nan")],
        }
    )
    plot_matrix(table, tmp_path / "attack_matrix.png")
    image = matplotlib.image.imread(tmp_path / "attack_matrix.png")
    assert image.shape[1] > image.shape[0] > 100
    svg = (tmp_path / "attack_matrix.svg").read_text()
    assert "red: the attack pays" in svg.replace("\n", " ") or "the attack pays" in svg
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no leftovers
