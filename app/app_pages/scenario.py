"""Scenario page: start from an example or a TOML file, edit it, download it.

Every edit goes through the library (``Scenario.replace`` / ``Scenario.from_dict``); a bad
value shows the library's one-line error under the widget that holds it, and the other pages
keep using the last valid scenario.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import streamlit as st

from agents import ParticipantGroup, Scenario, ScenarioError
from agents.scenario import FREE_RIDE, STRATEGIES, list_examples, load_example
from app import state
from app.runner import check

ss = st.session_state

#: Keys of the widgets that show a field of the scenario (cleared when a new one is loaded).
FIELD_KEYS = (
    "name",
    "rounds",
    "seed",
    "model_mode",
    "model_backbone",
    "scoring",
    "scoring_budget",
    "utility_metric",
    "mechanism",
    "round_budget",
    "secure_aggregation",
    "access",
    "neighbors",
    "dropout_rate",
    "groups",
)
_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(ParticipantGroup) if f.name != "name"
}


def load(scenario: Scenario, source: str) -> None:
    """Make ``scenario`` the current one and let every widget start from it."""
    ss[state.SCENARIO_KEY] = scenario
    ss[state.SOURCE_KEY] = source
    for key in (*FIELD_KEYS, "groups_df", "upload_error"):
        ss.pop(key, None)


def load_selected_example() -> None:
    name = ss["example"]
    load(load_example(name), f"example {name!r}")


def load_upload() -> None:
    uploaded = ss.get("upload")
    if uploaded is None:
        return
    try:
        text = uploaded.getvalue().decode("utf-8")
        scenario = Scenario.from_toml_string(text)
    except UnicodeDecodeError:
        ss["upload_error"] = f"scenario: {uploaded.name} is not UTF-8 text"
        return
    except ScenarioError as error:
        ss["upload_error"] = state.one_line(error)
        return
    load(scenario, f"file {uploaded.name}")


def apply(scenario: Scenario, path: str, value: Any) -> Scenario:
    """``scenario.replace(path, value)``, or the error under the widget just drawn."""
    try:
        return scenario.replace(path, value)
    except ScenarioError as error:
        st.error(state.one_line(error), icon=":material/error:")
        errors.append(path)
        return scenario


def select(label: str, path: str, key: str, value: str, **kwargs: Any) -> str:
    options = list(state.CHOICES[path])
    index = options.index(value) if value in options else 0
    return str(st.selectbox(label, options, index=index, key=key, **kwargs))


current = state.current(ss)
errors: list[str] = []

st.title("Scenario")
st.caption(
    "Start from an example or your own TOML file, edit the participants and the market, "
    "then run it on the **Run** page. Every value is checked by the library."
)
if "default_error" in ss:
    st.error(ss["default_error"], icon=":material/error:")
top = st.empty()

source_col, example_col = st.columns([1, 2])
with source_col:
    source = st.radio("Start from", ["Example", "Upload TOML"], key="source", horizontal=True)
with example_col:
    if source == "Example":
        examples = list_examples()
        pick = current.name if current.name in examples else examples[0]
        chosen = st.selectbox("Example", examples, index=examples.index(pick), key="example")
        st.button(
            f"Load {chosen!r}",
            key="load_example",
            on_click=load_selected_example,
            help="Replace the current scenario (and your edits) with this example.",
        )
    else:
        st.file_uploader("Scenario TOML", type=["toml"], key="upload", on_change=load_upload)
        if "upload_error" in ss:
            st.error(ss["upload_error"], icon=":material/error:")
st.caption(f"Current scenario: **{current.name}**, from {ss.get(state.SOURCE_KEY, '?')}.")

edited = current
st.subheader("General")
c1, c2, c3 = st.columns(3)
with c1:
    edited = apply(edited, "name", st.text_input("Name", current.name, key="name"))
with c2:
    rounds = st.number_input("Rounds", value=current.rounds, step=1, key="rounds")
    edited = apply(edited, "rounds", int(rounds))
with c3:
    seed = st.number_input("Seed", value=current.seed, step=1, key="seed")
    edited = apply(edited, "seed", int(seed))

st.subheader("Model")
c1, c2 = st.columns(2)
with c1:
    mode = select(
        "Mode",
        "model.mode",
        "model_mode",
        current.model.mode,
        help="head: frozen embeddings + a federated linear head (fast); lora: LoRA adapters.",
    )
    edited = apply(edited, "model.mode", mode)
with c2:
    backbone = select(
        "Backbone",
        "model.backbone",
        "model_backbone",
        current.model.backbone,
        help="minilm: all-MiniLM-L6-v2; tiny: a 2-layer random BERT (seconds, for tests).",
    )
    edited = apply(edited, "model.backbone", backbone)

st.subheader("Market")
c1, c2, c3 = st.columns(3)
with c1:
    scoring = select("Scoring method", "market.scoring", "scoring", current.market.scoring)
    edited = apply(edited, "market.scoring", scoring)
    scoring_slot = st.empty()
    budget_scoring = st.number_input(
        "Scoring budget (utility evaluations)",
        value=current.market.scoring_budget,
        step=1,
        key="scoring_budget",
    )
    edited = apply(edited, "market.scoring_budget", int(budget_scoring))
with c2:
    mechanism = select("Mechanism", "market.mechanism", "mechanism", current.market.mechanism)
    edited = apply(edited, "market.mechanism", mechanism)
    mechanism_slot = st.empty()
    round_budget = st.number_input(
        "Budget per round",
        value=float(current.market.round_budget),
        step=10.0,
        key="round_budget",
    )
    edited = apply(edited, "market.round_budget", float(round_budget))
with c3:
    metric = select(
        "Utility metric",
        "market.utility_metric",
        "utility_metric",
        current.market.utility_metric,
    )
    edited = apply(edited, "market.utility_metric", metric)

st.subheader("Privacy")
c1, c2, c3, c4 = st.columns(4)
with c1:
    secure = st.toggle(
        "Secure aggregation",
        value=current.privacy.secure_aggregation,
        key="secure_aggregation",
        help="The server only learns the sum of masked updates (SecAgg / SecAgg+).",
    )
with c2:
    access = select(
        "Access mode",
        "privacy.access",
        "access",
        current.privacy.access,
        disabled=not secure,
        help="How contribution scoring sees updates under secure aggregation.",
    )
    try:
        edited = state.with_secure_aggregation(edited, secure, access)
    except ScenarioError as error:
        st.error(state.one_line(error), icon=":material/error:")
        errors.append("privacy.access")
    access_slot = st.empty()
with c3:
    neighbors = st.number_input(
        "Neighbours (0: complete graph)",
        value=current.privacy.neighbors,
        step=1,
        key="neighbors",
        disabled=not secure,
    )
    edited = apply(edited, "privacy.neighbors", int(neighbors))
with c4:
    dropout = st.number_input(
        "Dropout rate",
        value=float(current.privacy.dropout_rate),
        step=0.05,
        key="dropout_rate",
        disabled=not secure,
    )
    edited = apply(edited, "privacy.dropout_rate", float(dropout))

st.subheader("Participant groups")
st.caption(
    "One row per group of identical participants. class_alpha is the label skew (0: none, "
    "0.1: strong), speed is samples per second, cost is per round of training. Add or "
    "delete rows to change the groups."
)
if "groups" not in ss or "groups_df" not in ss:
    ss["groups_df"] = state.groups_frame(current)
number = st.column_config.NumberColumn
table = st.data_editor(
    ss["groups_df"],
    key="groups",
    num_rows="dynamic",
    hide_index=True,
    column_config={
        "name": st.column_config.TextColumn("name", required=True),
        "count": number(
            "count", help="participants in the group", step=1, default=_DEFAULTS["count"]
        ),
        "data_size": number(
            "data size", help="examples each", step=1, default=_DEFAULTS["data_size"]
        ),
        "class_alpha": number("label skew (class_alpha)", default=_DEFAULTS["class_alpha"]),
        "label_noise": number("label noise", default=_DEFAULTS["label_noise"]),
        "speed": number("speed", default=_DEFAULTS["speed"]),
        "availability": number("availability", default=_DEFAULTS["availability"]),
        "cost": number("cost", default=_DEFAULTS["cost"]),
        "strategy": st.column_config.SelectboxColumn(
            "strategy", options=list(STRATEGIES), required=True, default="honest"
        ),
        "flip_rate": number("flip rate (noisy)", default=_DEFAULTS["flip_rate"]),
        "poison_scale": number("poison scale", default=_DEFAULTS["poison_scale"]),
        "sybil_identities": number(
            "sybil identities", step=1, default=_DEFAULTS["sybil_identities"]
        ),
        "free_ride": st.column_config.SelectboxColumn(
            "free ride", options=list(FREE_RIDE), default="zero"
        ),
    },
)
try:
    edited = state.with_groups(edited, table)
except ScenarioError as error:
    st.error(state.one_line(error), icon=":material/error:")
    errors.append("participants")

if not errors:
    try:
        check(edited)
    except ScenarioError as error:
        where = state.field_of(error)
        slots = {
            "market.scoring": scoring_slot,
            "market.mechanism": mechanism_slot,
            "privacy.access": access_slot,
        }
        slots.get(where, top).error(state.one_line(error), icon=":material/error:")
        errors.append(where or "scenario")

if errors:
    top.warning(
        "Fix the fields marked below; the other pages use the last valid scenario "
        f"({current.name!r}).",
        icon=":material/warning:",
    )
elif edited != current:
    ss[state.SCENARIO_KEY] = edited
    current = edited

st.subheader("Download")
st.caption(
    f"{current.n_identities} participant identities, {current.rounds} rounds, "
    f"{current.model.mode} mode on {current.model.backbone}, scoring {current.market.scoring}, "
    f"mechanism {current.market.mechanism}, access {current.privacy.access}."
)
st.download_button(
    "Download scenario as TOML",
    data=current.to_toml(),
    file_name=f"{current.name}.toml",
    mime="application/toml",
    key="download_toml",
    on_click="ignore",
    icon=":material/download:",
)
with st.expander("TOML"):
    st.code(current.to_toml(), language="toml")
