"""A researcher's own mechanism, estimator, strategy and join policy: registered by name, used
from TOML, the CLI and the attack matrix exactly like a built-in one (issue 28, part 4).

The shipped plug-in is ``examples/plugins/effort_share.py``; it is loaded the way a user
loads one, through ``FEDMARKET_PLUGINS`` in a fresh interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import market
from agents.scenario import ParticipantGroup, Scenario, ScenarioError
from agents.strategies import STRATEGIES, Strategy, Sybil, register_strategy
from market.mechanisms import Mechanism, Round

from .conftest import tiny_scenario

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "plugins" / "effort_share.py"


def _fedmarket(*args: str, plugins: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FEDMARKET_PLUGINS"}
    if plugins is not None:
        env["FEDMARKET_PLUGINS"] = plugins
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**env, "HF_HUB_OFFLINE": "1"},
        cwd=ROOT,
        check=False,
    )


def _python(code: str, plugins: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in a fresh interpreter with ``FEDMARKET_PLUGINS=plugins``."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "FEDMARKET_PLUGINS": plugins},
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def _plugin_scenario(tmp_path: Path) -> Path:
    """A tiny head-mode market that names the plug-in's mechanism and strategy."""
    text = tiny_scenario(
        ParticipantGroup("honest", count=3, data_size=60),
        ParticipantGroup("noisy_sender", count=1, data_size=60),
        rounds=2,
    ).to_toml()
    text = text.replace('mechanism = "pooled_value"', 'mechanism = "effort_share"')
    head, sender = text.split("[participants.noisy_sender]")
    sender = re.sub(r'strategy = "honest"', 'strategy = "noise_adder"', sender, count=1)
    sender = re.sub(r"copy_noise = [0-9.e-]+", "copy_noise = 0.5", sender, count=1)
    text = f"{head}[participants.noisy_sender]{sender}"
    assert 'strategy = "noise_adder"' in text and "copy_noise = 0.5" in text
    path = tmp_path / "plugin.toml"
    path.write_text(text)
    return path


def test_the_plugin_runs_from_toml_through_the_cli(tmp_path: Path) -> None:
    scenario = _plugin_scenario(tmp_path)
    assert 'mechanism = "effort_share"' in scenario.read_text()
    out = tmp_path / "out"
    done = _fedmarket("run", str(scenario), "--out", str(out), "--quiet", plugins=str(PLUGIN))
    assert done.returncode == 0, done.stderr
    participants = pd.read_parquet(out / "participants.parquet")
    rounds = pd.read_parquet(out / "rounds.parquet")
    sender = participants[participants["strategy"] == "noise_adder"]
    assert len(sender) == 2 and sender["included"].any()
    assert (rounds["budget_paid"] <= 100.0 + 1e-9).all() and rounds["budget_paid"].sum() > 0
    # the same file without the plug-in: one line naming the field, exit 2
    done = _fedmarket("run", str(scenario), "--quiet", plugins=None)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "market.mechanism" in done.stderr and "effort_share" in done.stderr


def test_the_shipped_plugin_example_loads_and_appears_in_the_attack_matrix(
    tmp_path: Path,
) -> None:
    code = (
        "from agents.scenario import Scenario\n"
        f"s = Scenario.from_toml({str(ROOT / 'examples/plugins/effort_share.toml')!r})\n"
        "print(s.market.mechanism, sorted({g.strategy for g in s.participants}))"
    )
    done = _python(code, plugins=str(PLUGIN))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["effort_share", "['honest',", "'noise_adder']"]
    out = tmp_path / "matrix"
    args = ["--attack", "free_ride_zero", "--seed", "0", "--out", str(out), "--quiet"]
    done = _fedmarket("attack-matrix", str(_plugin_scenario(tmp_path)), *args, plugins=str(PLUGIN))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "attack_matrix.csv")
    assert "effort_share" in set(table["mechanism"])  # every registered mechanism is played
    assert set(market.MECHANISMS) <= set(table["mechanism"])


def test_a_broken_plugin_is_one_line_with_the_fix(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(tiny_scenario(rounds=1).to_toml())
    for plugins in (str(broken), str(tmp_path / "missing.py")):
        done = _fedmarket("run", str(scenario), "--quiet", plugins=plugins)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert "FEDMARKET_PLUGINS" in done.stderr


class _Half(Mechanism):
    """Pays half the budget evenly over participants (a test mechanism)."""

    name = "half_test"

    def _pay(self, round_: Round) -> np.ndarray:
        count = max(int(round_.participants.sum()), 1)
        return np.where(round_.participants, 0.5 * round_.budget / count, 0.0)


class _Silent(Strategy):
    """Trains, then sends zeros (a test strategy)."""

    name = "silent_test"

    def sent(self, agent: object, delta: np.ndarray) -> np.ndarray:
        return np.zeros_like(delta)


def test_registered_parts_run_in_process_and_are_forgotten() -> None:
    market.register_mechanism("half_test", _Half)
    register_strategy("silent_test", _Silent)
    try:
        scenario = tiny_scenario(
            ParticipantGroup("honest", count=3, data_size=60),
            ParticipantGroup("quiet", count=1, data_size=60, strategy="silent_test"),
            rounds=1,
            mechanism="half_test",
        )
        from agents import run

        result = run(scenario)
        assert result.rounds["budget_paid"].iloc[-1] == pytest.approx(50.0)
        quiet = result.participants.query("group == 'quiet'")
        assert (quiet["rejected_reason"] != "").all()  # a zero update is a screened free rider
    finally:
        market.MECHANISMS.unregister("half_test")
        STRATEGIES.unregister("silent_test")
    with pytest.raises(ScenarioError) as error:
        Scenario().replace("market.mechanism", "half_test")
    assert error.value.path == "market.mechanism"


def test_registration_refuses_what_would_break_the_registry() -> None:
    with pytest.raises(ValueError, match="already registered"):
        market.register_mechanism("pooled_value", _Half)  # a built-in is never replaced
    with pytest.raises(ValueError, match="subclass"):
        market.register_mechanism("not_a_mechanism", dict)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="subclass"):
        market.register_estimator("not_an_estimator", _Half)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="letters"):
        register_strategy("bad name!", _Silent)
    with pytest.raises(ValueError, match="not a user-registered"):
        market.MECHANISMS.unregister("pooled_value")


def test_a_broken_plugin_fails_every_read_not_only_the_first(tmp_path: Path) -> None:
    """Review M1: after one failure the plug-in must not be skipped silently."""
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    code = (
        "import market\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        market.make_mechanism('pooled_value')\n"
        "        print('loaded')\n"
        "    except market.registry.PluginError as error:\n"
        "        print('error', 'boom' in str(error))\n"
    )
    done = _python(code, plugins=str(broken))
    assert done.stdout.split() == ["error", "True", "error", "True"], done.stderr


def test_threads_wait_for_a_plugin_that_is_loading(tmp_path: Path) -> None:
    """Review M3: the explorer serves sessions from threads; none may see a half-loaded set."""
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import time\ntime.sleep(0.5)\nimport market\n"
        "from market.mechanisms import Proportional\n"
        "class Slow(Proportional):\n    pass\n"
        "market.register_mechanism('slow_test', Slow, replace=True)\n"
    )
    code = (
        "import threading, market\n"
        "seen = {}\n"
        "def look(key):\n"
        "    seen[key] = 'slow_test' in market.MECHANISMS\n"
        "threads = [threading.Thread(target=look, args=(k,)) for k in 'ab']\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(sorted(seen.items()))\n"
    )
    done = _python(code, plugins=str(slow))
    assert done.stdout.strip() == "[('a', True), ('b', True)]", done.stderr


class _ReadsUpdates(market.Estimator):
    """A test estimator that declares it reads the update vectors."""

    name = "reads_updates_test"
    needs = frozenset({"updates"})

    def minimum_budget(self, n_players: int) -> int:
        return 0

    def _run(self, game: object, rng: object) -> object:
        raise AssertionError("never run")


class _ManyHeads(Sybil):
    """A registered subclass of the Sybil strategy."""

    name = "many_heads_test"


def test_plugins_get_the_built_ins_checks_by_what_they_declare() -> None:
    """Review M4: an estimator that reads updates is refused under secure coalitions, and a
    Sybil-like strategy shows its identities, because of what they declare, not their name."""
    market.register_estimator("reads_updates_test", _ReadsUpdates)
    register_strategy("many_heads_test", _ManyHeads)
    try:
        secure = Scenario().replace("privacy.access", "secure_coalitions")
        with pytest.raises(ScenarioError) as error:
            secure.replace("market.scoring", "reads_updates_test")
        assert error.value.path == "market.scoring"
        group = ParticipantGroup("heads", strategy="many_heads_test", sybil_identities=3)
        assert group.identities == 3
    finally:
        market.METHODS.unregister("reads_updates_test")
        STRATEGIES.unregister("many_heads_test")
