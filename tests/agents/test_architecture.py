"""The architecture a user relies on: a light scenario layer, typed errors, shipped examples.

* ``agents.scenario`` validates without torch: a bad file is rejected before any heavy import.
* every registry name and cross-section rule is checked when a ``Scenario`` is built, and the
  error carries ``.path``.
* the example scenarios ship inside the wheel and load from it.
* the platform never imports the Mesa model (no import loop).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agents.scenario import (
    MarketSection,
    ModelSection,
    ParticipantGroup,
    Scenario,
    ScenarioError,
    TrainSection,
)

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        check=False,
    )


def test_importing_the_scenario_layer_does_not_import_torch() -> None:
    done = _python(
        "import sys, agents, agents.scenario\n"
        "s = agents.scenario.load_example('quickstart')\n"
        "heavy = ('torch', 'transformers', 'peft', 'mesa', 'scipy', 'pandas')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cli_rejects_a_bad_scenario_in_one_line_without_torch(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[market]\nscoring = 'shapely'\n")
    done = _python(
        "import sys\n"
        "from agents.cli import app\n"
        f"sys.argv = ['fedmarket', 'run', {str(bad)!r}]\n"
        "try:\n    app()\n"
        "except SystemExit as exit:\n"
        "    print('torch' in sys.modules, exit.code, file=sys.stdout)\n"
    )
    assert done.stdout.strip() == "False 2"
    assert done.stderr.strip().splitlines() == [
        "error: market.scoring: 'shapely' is not one of "
        + str(sorted(__import__("market").METHODS))
    ]


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (lambda: MarketSection(scoring="shapely"), "market.scoring"),
        (lambda: MarketSection(mechanism="nope"), "market.mechanism"),
        (lambda: TrainSection(aggregator="mean"), "train.aggregator"),
        (lambda: ModelSection(lora_rank=0), "model.lora_rank"),
        (lambda: TrainSection(lr=2.0), "train.lr"),
        (lambda: ParticipantGroup("g", cost=-1.0), "participants.g.cost"),
        (lambda: Scenario().replace("data.val_size", 1), "data.val_size"),
    ],
)
def test_construction_rejects_bad_names_with_a_path(build: object, path: str) -> None:
    with pytest.raises(ScenarioError) as error:
        build()  # type: ignore[operator]
    assert error.value.path == path
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_cross_section_rules_hold_at_construction() -> None:
    many = ParticipantGroup("crowd", count=21)
    with pytest.raises(ScenarioError) as error:
        Scenario(market=MarketSection(scoring="surrogate"), participants=(many,))
    assert error.value.path == "market.scoring"
    with pytest.raises(ScenarioError) as error:
        Scenario().replace("train.aggregator", "median").replace("privacy.secure_aggregation", True)
    assert error.value.path == "train.aggregator"


def test_sections_are_the_fl_core_configs() -> None:
    from fl_core.config import DataConfig, ModelConfig, TrainConfig

    scenario = Scenario()
    assert isinstance(scenario.model, ModelConfig)
    assert isinstance(scenario.data, DataConfig)
    assert isinstance(scenario.train, TrainConfig)
    # every fl_core field reaches the scenario (none is dropped on the way to the task)
    changed = scenario.replace("model.lora_dropout", 0.1).replace("train.server_lr", 0.5)
    assert Scenario.from_toml_string(changed.to_toml()) == changed
    assert changed.model.lora_dropout == 0.1


def test_platform_does_not_import_the_model() -> None:
    tree = ast.parse((ROOT / "agents" / "platform.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "agents.model" not in imported


@pytest.mark.slow
def test_the_wheel_ships_the_examples(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("fedmarket-*.whl")
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert "agents/examples/quickstart.toml" in archive.namelist()
        archive.extractall(unpacked)
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import agents.scenario as s; print(s.__file__); "
            "print(s.load_example('quickstart').name)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(unpacked), "PYTHONSAFEPATH": "1"},
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    where, name = loaded.stdout.split()
    assert where.startswith(str(unpacked)) and name == "quickstart"
