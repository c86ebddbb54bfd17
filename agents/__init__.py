"""agents: the Mesa 3 marketplace that composes fl_core, privacy and market.

``Scenario`` (frozen, validated, TOML) -> ``compile_scenario(scenario) -> RunPlan`` (typed
components, once) -> ``run(scenario) -> RunResult`` (pure, seeded) ->
``sweep(base, grid, seeds=...) -> DataFrame`` -> ``study(load_study(path))`` (mechanisms x
settings x seeds, with a report). A researcher's own participant strategy or join policy is
registered with ``register_strategy`` / ``register_join_policy`` (mechanisms and estimators:
``market.register_mechanism`` / ``market.register_estimator``; ``examples/plugins``).
``MarketModel`` is the Mesa model behind ``run``; ``batch_run(MarketModel, {"scenario":
[...]})`` is Mesa's batch runner with every round reported (Mesa 3.3's own drops the last).

Names are imported on first use: ``import agents`` (and ``agents.scenario``) stays light,
so a bad scenario file is rejected before torch is ever imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agents.run import RunResult, compare, run, summarize
from agents.scenario import ParticipantGroup, Scenario, ScenarioError
from agents.sweep import sweep

_LAZY = {
    "batch_run": "agents.batch",
    "load_study": "agents.study",
    "study": "agents.study",
    "MarketModel": "agents.model",
    "ParticipantAgent": "agents.participants",
    "PlatformAgent": "agents.platform",
    "RunPlan": "agents.compile",
    "compile_scenario": "agents.compile",
    "register_join_policy": "agents.join_policies",
    "register_strategy": "agents.strategies",
}
"""Imported on first use: these pull in torch, transformers and Mesa."""

__all__ = [
    "MarketModel",
    "ParticipantAgent",
    "ParticipantGroup",
    "PlatformAgent",
    "RunPlan",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "batch_run",
    "compare",
    "compile_scenario",
    "load_study",
    "register_join_policy",
    "register_strategy",
    "run",
    "study",
    "summarize",
    "sweep",
]

if TYPE_CHECKING:
    from agents.batch import batch_run
    from agents.compile import RunPlan, compile_scenario
    from agents.join_policies import register_join_policy
    from agents.model import MarketModel
    from agents.participants import ParticipantAgent
    from agents.platform import PlatformAgent
    from agents.strategies import register_strategy
    from agents.study import load_study, study


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
