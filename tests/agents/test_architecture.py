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


# ----- issue 28: a one-way import graph, small modules, typed parts, public extension points -----

SOURCE_PACKAGES = ("agents", "market", "privacy", "fl_core", "app", "bench")


def test_there_is_no_import_circle() -> None:
    """Function-local and ``TYPE_CHECKING`` imports count: a hidden circle is still one."""
    from .import_graph import cycles, edges, modules

    assert cycles(edges(modules(ROOT))) == []


def test_the_circle_check_sees_a_circle_hidden_in_a_function(tmp_path: Path) -> None:
    """Broken variant: two modules that import each other, one inside a function."""
    from .import_graph import cycles, edges, modules

    package = tmp_path / "agents"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from agents import b\n")
    (package / "b.py").write_text("def f():\n    from agents.a import x\n")
    (package / "c.py").write_text("import agents.a\n")
    assert cycles(edges(modules(tmp_path, ("agents",)))) == [["agents.a", "agents.b"]]


def test_every_module_is_at_most_400_lines_and_the_platform_250() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for package in (*SOURCE_PACKAGES, "tests", "examples")
        for path in (ROOT / package).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}
    assert len((ROOT / "agents" / "platform.py").read_text().splitlines()) <= 250


def test_bench_is_a_package_that_edits_no_import_path() -> None:
    """``python -m bench.NAME`` from the root: shared helpers imported, no ``sys.path`` edit."""
    assert (ROOT / "bench" / "__init__.py").is_file()
    edits = [
        path.name
        for path in (ROOT / "bench").glob("*.py")
        if "sys.path" in path.read_text() and path.name != "__init__.py"
    ]
    assert edits == []


def test_the_run_plan_is_fully_typed() -> None:
    import dataclasses

    from agents.compile import RunPlan

    loose = [f.name for f in dataclasses.fields(RunPlan) if "Any" in str(f.type)]
    assert loose == []


def test_the_platform_reads_neither_the_scenario_nor_a_strategy_name() -> None:
    """The platform sequences phases of typed parts: no ``plan.scenario``, no dispatch on a
    scoring, access, aggregator or strategy name (``== "cgsv"`` and the like)."""
    for name in ("platform.py", "scoring.py", "access.py"):
        tree = ast.parse((ROOT / "agents" / name).read_text())
        attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert "scenario" not in attributes, name
        compared = [
            c.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Compare) and any(isinstance(o, ast.Eq | ast.NotEq) for o in n.ops)
            for c in [n.left, *n.comparators]
            if isinstance(c, ast.Constant) and isinstance(c.value, str)
        ]
        assert compared == [], (name, compared)


def _private_collector_reads(tree: ast.AST) -> set[str]:
    """``collector._x`` / ``datacollector._x`` attributes read in ``tree``."""
    found = set()
    for n in ast.walk(tree):
        if not (isinstance(n, ast.Attribute) and n.attr.startswith("_")):
            continue
        owner = getattr(n.value, "attr", getattr(n.value, "id", ""))
        if not n.attr.startswith("__") and owner in ("collector", "datacollector"):
            found.add(n.attr)
    return found


def test_the_model_uses_mesa_public_api_only() -> None:
    """No subclass of Mesa's DataCollector, no private attribute of one."""
    for path in (ROOT / "agents").glob("*.py"):
        tree = ast.parse(path.read_text())
        assert _private_collector_reads(tree) == set(), path.name
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Attribute) and b.attr == "DataCollector" for b in node.bases
            ):
                raise AssertionError(f"{path.name}: {node.name} subclasses Mesa's DataCollector")
    broken = ast.parse("records = model.datacollector._agenttype_records")
    assert _private_collector_reads(broken) == {"_agenttype_records"}  # the check sees one


def test_the_market_model_rejects_a_misspelled_argument() -> None:
    from agents.model import MarketModel

    with pytest.raises(TypeError, match="scenrio"):
        MarketModel(scenrio=None)  # type: ignore[call-arg]
