"""Scenarios: a frozen, validated description of one marketplace simulation.

A :class:`Scenario` is plain data (hashable, comparable, TOML round-trippable) with one
section per concern (:mod:`agents.scenario.sections`) and participant groups
(:mod:`agents.scenario.groups`). Each field is declared once with its default, help text,
bounds and choices (:mod:`agents.scenario.spec`); :data:`FIELDS` (:mod:`agents.scenario.catalog`)
gathers them for the explorer, ``fedmarket fields`` and the docs. A bad value raises
:class:`ScenarioError` (a ``ValueError``) with one line naming the field and ``.path`` set to
it. Importing this package does not import torch, so a bad file is rejected in well under a
second.
"""

from agents.scenario.catalog import FIELDS, FieldDoc, choices, field_doc, help_text
from agents.scenario.choices import ACCESS_MODES, FREE_RIDE, UTILITY_METRICS
from agents.scenario.core import Scenario, check_compatible
from agents.scenario.errors import ScenarioError
from agents.scenario.examples import example_path, list_examples, load_example, load_scenario
from agents.scenario.groups import ParticipantGroup
from agents.scenario.sections import SECTIONS, EconomicsSection, MarketSection, PrivacySection
from agents.scenario.training import DataSection, ModelSection, TrainSection
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
    "UTILITY_METRICS",
    "DataSection",
    "EconomicsSection",
    "FIELDS",
    "FieldDoc",
    "MarketSection",
    "ModelSection",
    "ParticipantGroup",
    "PrivacySection",
    "Scenario",
    "ScenarioError",
    "TrainSection",
    "check_compatible",
    "choices",
    "field_doc",
    "help_text",
    "example_path",
    "list_examples",
    "load_example",
    "load_scenario",
]
