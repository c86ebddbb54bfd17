"""Sweep and seed-spread helpers of the explorer: fields a sweep may vary, parsing the values
box, and the seed-spread table (no numerics, no streamlit).

Bad input is reported as the library's one-line :class:`agents.ScenarioError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from agents import Scenario, ScenarioError, columns
from agents.scenario import choices, field_doc

#: Scenario fields a sweep may vary (participant fields are added per group).
SWEEP_FIELDS: tuple[str, ...] = (
    "market.mechanism",
    "market.scoring",
    "market.round_budget",
    "market.scoring_budget",
    "market.reputation_threshold",
    "market.exploration",
    "privacy.access",
    "privacy.dropout_rate",
    "privacy.threat_model",
    "privacy.neighbors",
    "privacy.threshold",
    "model.mode",
    "train.lr",
    "train.local_epochs",
    "train.aggregator",
    "rounds",
)
SWEEP_GROUP_FIELDS: tuple[str, ...] = (
    "count",
    "data_size",
    "class_alpha",
    "label_noise",
    "availability",
    "cost",
    "speed",
)


def sweep_fields(scenario: Scenario) -> list[str]:
    """Dotted paths a sweep over ``scenario`` may vary."""
    group_paths = [
        f"participants.{g.name}.{name}"
        for g in scenario.participants
        for name in SWEEP_GROUP_FIELDS
    ]
    return [*SWEEP_FIELDS, *group_paths]


def choices_for(path: str) -> tuple[str, ...] | None:
    """The allowed names for a field that takes a name, else ``None`` (from the scenario's
    field description; ``participants.GROUP.F`` is any group's ``F``)."""
    return choices(path)


def values_help(path: str) -> str:
    """The values box's "?": what the field does and what it may hold."""
    doc = field_doc(path)
    allowed = doc.allowed_text()
    return f"{doc.help} Allowed: {allowed}." if allowed else doc.help


def default_values_text(scenario: Scenario, path: str) -> str:
    """What the values box shows first for ``path``: every choice, or the current value."""
    options = choices_for(path)
    if options is not None:
        return ", ".join(options)
    return str(scenario.get(path))


def parse_values(scenario: Scenario, path: str, text: str) -> list[Any]:
    """Comma-separated values for ``path``, typed like the field it sets.

    Raises:
        ScenarioError: naming ``path`` when a value has the wrong type or the list is empty.
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ScenarioError(f"{path}", "give at least one value, separated by commas")
    current_value = scenario.get(path)
    values: list[Any] = []
    for item in items:
        try:
            if isinstance(current_value, bool):
                if item.lower() not in ("true", "false"):
                    raise ValueError(item)
                values.append(item.lower() == "true")
            elif isinstance(current_value, int):
                values.append(int(item))
            elif isinstance(current_value, float):
                values.append(float(item))
            else:
                values.append(item)
        except ValueError:
            kind = type(current_value).__name__
            raise ScenarioError(f"{path}", f"{item!r} is not a valid {kind}") from None
    if len(set(values)) != len(values):
        raise ScenarioError(f"{path}", "values repeat; give each value once")
    return values


def parse_seeds(text: str) -> list[int]:
    """Comma-separated non-negative integer seeds."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        seeds = [int(item) for item in items]
    except ValueError:
        raise ScenarioError("seeds", f"{text!r} must be non-negative integers, e.g. 0, 1") from None
    if not seeds or any(seed < 0 for seed in seeds):
        raise ScenarioError("seeds", f"{text!r} must be non-negative integers, e.g. 0, 1")
    return seeds


def grid_key(grid: Mapping[str, Sequence[Any]]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """A hashable form of a sweep grid (the cache key)."""
    return tuple((path, tuple(values)) for path, values in grid.items())


#: Summary metrics the seed-spread table shows first (their labels and units: the data
#: dictionary, :mod:`agents.columns`).
SPREAD_METRICS: tuple[str, ...] = (
    "final_test_accuracy",
    "total_paid",
    "fair_pearson",
    "fair_free_rider_share",
    "fair_gini",
    "ir_violation_rate",
    "exposed_clients_distinct",
)


def spread_table(table: pd.DataFrame) -> pd.DataFrame:
    """``agents.run.seed_summary`` for display: key metrics first, labels and units, rounded."""
    order = {key: i for i, key in enumerate(SPREAD_METRICS)}
    frame = table.assign(rank=table["metric"].map(lambda k: order.get(k, len(order))))
    frame = frame.sort_values(["rank", "metric"]).drop(columns="rank")
    frame.insert(1, "unit", frame["metric"].map(lambda k: columns.unit(k, "summary")))
    frame["metric"] = frame["metric"].map(lambda k: columns.label(k, "summary"))
    return frame.round(3).reset_index(drop=True)
