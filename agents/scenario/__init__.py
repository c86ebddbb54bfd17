"""Scenarios: a frozen, validated description of one marketplace simulation.

A :class:`Scenario` is plain data (hashable, comparable, TOML round-trippable) with one
section per concern (:mod:`agents.scenario.sections`) and participant groups
(:mod:`agents.scenario.groups`). A bad value raises :class:`ScenarioError` (a ``ValueError``)
with one line naming the field and ``.path`` set to it. Importing this package does not
import torch, so a bad file is rejected in well under a second.
"""

from agents.scenario.core import Scenario, check_compatible
from agents.scenario.errors import ScenarioError
from agents.scenario.examples import example_path, list_examples, load_example
from agents.scenario.groups import FREE_RIDE, STRATEGIES, ParticipantGroup
from agents.scenario.sections import (
    ACCESS_MODES,
    SECTIONS,
    UTILITY_METRICS,
    DataSection,
    EconomicsSection,
    MarketSection,
    ModelSection,
    PrivacySection,
    TrainSection,
)
from fl_core.aggregation import AGGREGATORS
from fl_core.config import BACKBONES, INITS, MODES  # the model and train sections' choices

__all__ = [
    "ACCESS_MODES",
    "AGGREGATORS",
    "BACKBONES",
    "INITS",
    "MODES",
    "FREE_RIDE",
    "SECTIONS",
    "STRATEGIES",
    "UTILITY_METRICS",
    "DataSection",
    "EconomicsSection",
    "MarketSection",
    "ModelSection",
    "ParticipantGroup",
    "PrivacySection",
    "Scenario",
    "ScenarioError",
    "TrainSection",
    "check_compatible",
    "example_path",
    "list_examples",
    "load_example",
]
