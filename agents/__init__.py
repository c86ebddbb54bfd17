"""agents: the Mesa 3 marketplace that composes fl_core, privacy and market.

``Scenario`` (frozen, validated, TOML) -> ``run(scenario) -> RunResult`` (pure, seeded) ->
``sweep(base, grid, seeds=...) -> DataFrame``. ``MarketModel`` is the Mesa model behind
``run``; ``mesa.batch_run(MarketModel, parameters={"scenario": [...]})`` works too.
"""

from agents.model import MarketModel
from agents.participants import ParticipantAgent
from agents.platform import PlatformAgent
from agents.run import RunResult, compare, run, summarize
from agents.scenario import ParticipantGroup, Scenario, ScenarioError
from agents.sweep import sweep

__all__ = [
    "MarketModel",
    "ParticipantAgent",
    "ParticipantGroup",
    "PlatformAgent",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "compare",
    "run",
    "summarize",
    "sweep",
]
