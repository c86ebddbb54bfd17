"""The example scenarios shipped inside the package (``agents/examples/*.toml``).

They are package data, read with :mod:`importlib.resources`, so ``load_example`` works from
an installed wheel as well as from a source checkout.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from agents.scenario.core import Scenario
from agents.scenario.errors import ScenarioError


def _folder() -> Traversable:
    return resources.files("agents") / "examples"


def example_path(name: str) -> Traversable:
    """The shipped file ``NAME.toml`` (a scenario or a sweep)."""
    file = _folder() / f"{name}.toml"
    if not file.is_file():
        raise ScenarioError(
            "example", f"no example named {name!r}; choose one of {list_examples()}"
        )
    return file


def list_examples() -> list[str]:
    """Names of the shipped example scenarios (sweep files left out)."""
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in _folder().iterdir()
        if entry.name.endswith(".toml") and not entry.name.startswith("sweep")
    )


def load_example(name: str) -> Scenario:
    """The shipped example scenario ``NAME``."""
    return Scenario.from_toml_string(example_path(name).read_text(encoding="utf-8"))


def load_scenario(source: str | Path | None) -> Scenario:
    """A scenario file, the name of a shipped example (``quickstart``), or (``None``) the
    default scenario."""
    if source is None:
        return Scenario()
    path = Path(source)
    if not path.exists() and str(source) in list_examples():
        return load_example(str(source))
    if not path.exists() and "/" not in str(source) and path.suffix != ".toml":
        raise ScenarioError(
            "scenario",
            f"{str(source)!r} is neither a file nor a shipped example; examples: "
            + ", ".join(list_examples()),
        )
    return Scenario.from_toml(path)
