"""Session state and widget values -> :class:`agents.Scenario` (no numerics, no streamlit).

The pages keep the current scenario in ``st.session_state["scenario"]``; the helpers here turn
what the widgets hold (plain values, the participant table) into a validated scenario, and
report a bad value as the library's one-line :class:`agents.ScenarioError`, whose leading
dotted path (``participants.honest.cost: ...``) tells the page which widget to show it under.
"""

from __future__ import annotations

import math
import os
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

import agents
import market
from agents import ParticipantGroup, Scenario, ScenarioError
from agents.scenario import FIELDS, FieldDoc, field_doc, list_examples, load_example
from agents.scenario.spec import FieldSpec

#: Environment variable naming the scenario the app opens on: an example name (see
#: ``examples/``) or a path to a scenario TOML file. The tests point it at a tiny scenario.
DEFAULT_ENV = "FEDMARKET_APP_DEFAULT"
#: The app's default: head mode on MiniLM, well under a minute on a laptop.
DEFAULT_EXAMPLE = "quickstart"

SCENARIO_KEY = "scenario"  # the current, valid scenario
RESULT_KEY = "result"  # the latest RunResult (Run page), read by the Results page
SOURCE_KEY = "scenario_source"  # one line saying where the current scenario came from

#: Participant table columns, in the order the editor shows them.
GROUP_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ParticipantGroup))
_GROUP_TYPES: dict[str, Any] = typing.get_type_hints(ParticipantGroup)
"""Each participant field's declared type (the editor returns floats for integer columns)."""

#: Choices for the fields that take a name, by dotted path (a participant field as
#: ``participants.*.strategy``), from the scenario's field description.
CHOICES: dict[str, tuple[str, ...]] = {
    path: options for path, doc in FIELDS.items() if (options := doc.choices()) is not None
}

#: The Scenario page's widgets: widget key -> the scenario field it shows. The scenario in
#: the session is the one source of truth: :func:`reset_widgets` writes these values into
#: the session whenever a scenario is loaded, so no widget can keep an older scenario's value.
WIDGETS: dict[str, str] = {
    "name": "name",
    "rounds": "rounds",
    "seed": "seed",
    "model_mode": "model.mode",
    "model_backbone": "model.backbone",
    "data_dataset": "data.dataset",
    "data_partition": "data.partition",
    "data_val_size": "data.val_size",
    "data_test_fraction": "data.test_fraction",
    "data_utility_subset": "data.utility_subset",
    "data_replace": "data.replace",
    "train_lr": "train.lr",
    "train_local_epochs": "train.local_epochs",
    "train_batch_size": "train.batch_size",
    "train_aggregator": "train.aggregator",
    "train_trim_fraction": "train.trim_fraction",
    "train_max_update_norm": "train.max_update_norm",
    "train_prox_mu": "train.prox_mu",
    "train_deadline_s": "train.deadline_s",
    "scoring": "market.scoring",
    "scoring_budget": "market.scoring_budget",
    "utility_metric": "market.utility_metric",
    "mechanism": "market.mechanism",
    "round_budget": "market.round_budget",
    "reputation_threshold": "market.reputation_threshold",
    "exploration": "market.exploration",
    "learning_rate": "market.learning_rate",
    "secure_aggregation": "privacy.secure_aggregation",
    "access": "privacy.access",
    "neighbors": "privacy.neighbors",
    "threshold": "privacy.threshold",
    "dropout_rate": "privacy.dropout_rate",
    "threat_model": "privacy.threat_model",
    "dp_enabled": "privacy.dp.enabled",
    "dp_epsilon": "privacy.dp.epsilon",
    "dp_delta": "privacy.dp.delta",
    "dp_clip": "privacy.dp.clip",
    "dp_budget_covers": "privacy.dp.budget_covers",
}
#: Widgets whose value is a float (``st.number_input`` must not see an int there).
FLOAT_WIDGETS = frozenset(key for key, path in WIDGETS.items() if field_doc(path).is_float)
#: The participant table's editor (its base frame lives under ``GROUPS_FRAME_KEY``).
GROUPS_KEY = "groups"
GROUPS_FRAME_KEY = "groups_df"


def widget_label(key: str) -> str:
    """The label of widget ``key``: its field's label, capitalised, with the unit."""
    doc = field_doc(WIDGETS[key])
    label = doc.label[:1].upper() + doc.label[1:]
    return f"{label} ({doc.spec.unit})" if doc.spec.unit else label


def number_limits(path: str) -> dict[str, Any]:
    """``min_value``/``max_value`` of a number widget for the field at ``path``: its closed
    bounds (an open bound is left to the library's check, which says what is allowed)."""
    doc = field_doc(path)
    cast = float if doc.is_float else int
    limits: dict[str, Any] = {}
    if doc.spec.low is not None and not doc.spec.low_open:
        limits["min_value"] = cast(doc.spec.low)
    if doc.spec.high is not None and not doc.spec.high_open:
        limits["max_value"] = cast(doc.spec.high)
    return limits


def group_columns() -> list[FieldDoc]:
    """The participant table's columns, in :data:`GROUP_COLUMNS` order, described (``name``
    is the group's key: described as text)."""
    name = FieldDoc("participants.*.name", "text", None, FieldSpec("The group's name."))
    return [name if c == "name" else field_doc(f"participants.*.{c}") for c in GROUP_COLUMNS]


def widget_values(scenario: Scenario) -> dict[str, Any]:
    """What each Scenario-page widget shows for ``scenario`` (typed as the widget wants)."""
    values: dict[str, Any] = {}
    for key, path in WIDGETS.items():
        value = scenario.get(path)
        if key in FLOAT_WIDGETS and value is not None:
            value = float(value)
        values[key] = value
    return values


def reset_widgets(state: MutableState, scenario: Scenario) -> None:
    """Write ``scenario``'s values into every widget of the Scenario page.

    Called on example load and TOML upload (in the widget's callback, before the page is
    drawn), and when the page is drawn with widgets missing (after visiting another page).
    Setting the values, not just dropping the keys, is what makes the browser's copy of the
    widget follow: a dropped key comes back with the value the browser still holds.
    """
    for key, value in widget_values(scenario).items():
        state[key] = value
    state.pop(GROUPS_KEY, None)
    state[GROUPS_FRAME_KEY] = groups_frame(scenario)


def ensure_widgets(state: MutableState, scenario: Scenario) -> None:
    """Fill in the widgets that the session lost (Streamlit drops them off-page)."""
    values = widget_values(scenario)
    for key, value in values.items():
        if key not in state:
            state[key] = value
    if GROUPS_FRAME_KEY not in state or GROUPS_KEY not in state:
        state[GROUPS_FRAME_KEY] = groups_frame(scenario)


def load(state: MutableState, scenario: Scenario, source: str) -> None:
    """Make ``scenario`` the session's scenario and reset every widget to it."""
    state[SCENARIO_KEY] = scenario
    state[SOURCE_KEY] = source
    reset_widgets(state, scenario)


def sensible_access(enabled: bool, access: str) -> str:
    """The access mode to show when secure aggregation is switched on or off.

    On: ``plaintext`` becomes ``secure_coalitions`` (otherwise the toggle would change
    nothing the scorer sees); off: only ``plaintext`` is valid.
    """
    if not enabled:
        return "plaintext"
    return "secure_coalitions" if access == "plaintext" else access


def effective_scoring_budget(scenario: Scenario) -> int:
    """Evaluations per round the scoring method really uses when every identity joins."""
    estimator = market.make_estimator(scenario.market.scoring)
    return int(estimator.effective_budget(scenario.n_identities, scenario.market.scoring_budget))


def default_scenario(env: Mapping[str, str] | None = None) -> tuple[Scenario, str]:
    """The scenario the app opens on and a line saying where it came from.

    ``$FEDMARKET_APP_DEFAULT`` may name an example or a TOML file; unset, the app opens on
    the ``quickstart`` example. A bad value raises :class:`ScenarioError`.
    """
    value = (env if env is not None else os.environ).get(DEFAULT_ENV, "").strip()
    if not value:
        return load_example(DEFAULT_EXAMPLE), f"example {DEFAULT_EXAMPLE!r}"
    if value in list_examples():
        return load_example(value), f"example {value!r}"
    if value.endswith(".toml") or Path(value).is_file():
        return Scenario.from_toml(value), f"file {value}"
    raise ScenarioError(
        DEFAULT_ENV, f"{value!r} is neither an example ({list_examples()}) nor a TOML file"
    )


class SessionState(Protocol):
    """What the helpers need of ``st.session_state`` (a plain dict works too)."""

    def __contains__(self, key: object) -> bool: ...
    def __getitem__(self, key: str) -> Any: ...
    def __setitem__(self, key: str, value: Any) -> None: ...


class MutableState(SessionState, Protocol):
    """A session state that can also drop keys."""

    def pop(self, key: str, default: Any = None) -> Any: ...


def current(state: SessionState) -> Scenario:
    """The current scenario, set to the default on first use."""
    if SCENARIO_KEY not in state:
        try:
            scenario, source = default_scenario()
        except ScenarioError as error:
            scenario, source = load_example(DEFAULT_EXAMPLE), f"example {DEFAULT_EXAMPLE!r}"
            state["default_error"] = str(error)
        state[SCENARIO_KEY] = scenario
        state[SOURCE_KEY] = source
    scenario = state[SCENARIO_KEY]
    assert isinstance(scenario, Scenario)
    return scenario


def summary_line(scenario: Scenario) -> str:
    """The scenario in one line: rounds, identities, model, scoring, mechanism, access."""
    return (
        f"{scenario.rounds} rounds, {scenario.n_identities} participant identities, "
        f"{scenario.model.mode} mode on {scenario.model.backbone}, scoring "
        f"{scenario.market.scoring}, mechanism {scenario.market.mechanism}, access "
        f"{scenario.privacy.access}"
    )


def field_of(error: Exception) -> str:
    """The dotted field a :class:`ScenarioError` names (``.path``); "" for other errors."""
    return error.path if isinstance(error, ScenarioError) else ""


def one_line(error: Exception) -> str:
    """The first line of an error message (what the user sees)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ----- the participant table -----
def groups_frame(scenario: Scenario) -> pd.DataFrame:
    """One editor row per participant group."""
    rows = [{c: getattr(g, c) for c in GROUP_COLUMNS} for g in scenario.participants]
    return pd.DataFrame(rows, columns=list(GROUP_COLUMNS))


def _cell(column: str, value: Any) -> Any:
    """An editor cell as the plain Python value the scenario expects (``None``: empty)."""
    if value is None:
        return None
    if hasattr(value, "item"):  # numpy scalars -> Python scalars
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    kind = _GROUP_TYPES.get(column, str)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def groups_from_frame(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The ``[participants]`` table of a scenario from editor rows; empty cells take defaults."""
    groups: dict[str, dict[str, Any]] = {}
    for position, record in enumerate(frame.to_dict("records"), start=1):
        name = _cell("name", record.get("name"))
        if name is None:
            raise ScenarioError("participants", f"row {position} has no name; give each group one")
        name = str(name).strip()
        if name in groups:
            raise ScenarioError("participants", f"group name {name!r} repeats; names must differ")
        groups[name] = {
            column: cell
            for column in GROUP_COLUMNS
            if column != "name" and (cell := _cell(column, record.get(column))) is not None
        }
    if not groups:
        raise ScenarioError("participants", "give at least one group (add a row)")
    return groups


def with_groups(scenario: Scenario, frame: pd.DataFrame) -> Scenario:
    """``scenario`` with its participant groups replaced by the editor's rows."""
    raw = scenario.to_dict()
    raw["participants"] = groups_from_frame(frame)
    return Scenario.from_dict(raw)


def with_secure_aggregation(scenario: Scenario, enabled: bool, access: str) -> Scenario:
    """Set secure aggregation and the access mode in an order the validation accepts."""
    if enabled:
        return scenario.replace("privacy.secure_aggregation", True).replace(
            "privacy.access", access
        )
    return scenario.replace("privacy.access", "plaintext").replace(
        "privacy.secure_aggregation", False
    )


# ----- compare -----
COMPARE_KINDS: dict[str, str] = {"mechanism": "market.mechanism", "access": "privacy.access"}


def variant(scenario: Scenario, kind: str, value: str) -> Scenario:
    """``scenario`` with its mechanism or access mode set (same seed, everything else equal).

    Access modes are compared under secure aggregation, so it is switched on for them.
    """
    if kind == "mechanism":
        return scenario.replace("market.mechanism", value)
    if kind == "access":
        return with_secure_aggregation(scenario, True, value)
    raise ScenarioError("compare", f"{kind!r} is not one of {sorted(COMPARE_KINDS)}")


def fairness_difference(
    a: Mapping[str, float],
    b: Mapping[str, float],
    labels: Sequence[str],
    metrics: Mapping[str, str],
) -> pd.DataFrame:
    """One row per metric: its value in run A, in run B, and ``B - A`` (``agents.compare``)."""
    first, second = labels
    table = agents.compare(a, b, list(metrics), labels=(first, second))
    table["metric"] = table["metric"].map(dict(metrics))
    return table.rename(columns={"difference": "B - A"})
