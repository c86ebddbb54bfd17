"""Scenario page: start from an example or a TOML file, edit every section, download it.

The scenario in the session is the one source of truth. Every widget is keyed
(``state.WIDGETS``) and holds no default of its own: loading an example or uploading a file
writes the new scenario's values into every key (``state.load``) before the page is drawn,
so no widget keeps an older scenario's value. Every edit goes through the library
(``Scenario.replace`` / ``Scenario.from_dict``); a bad value shows the library's one-line
error under its widget, and the other pages keep using the last valid scenario.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import streamlit as st

from agents import ParticipantGroup, Scenario, ScenarioError
from agents.notices import run_notices
from agents.scenario import FREE_RIDE, STRATEGIES, list_examples, load_example
from app import help as words
from app import state
from app.runner import check

ss = st.session_state
_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(ParticipantGroup) if f.name != "name"
}


def load_selected_example() -> None:
    name = ss["example"]
    state.load(ss, load_example(name), f"example {name!r}")
    ss.pop("upload_error", None)


def load_upload() -> None:
    uploaded = ss.get("upload")
    if uploaded is None:
        return
    try:
        scenario = Scenario.from_toml_string(uploaded.getvalue().decode("utf-8"))
    except UnicodeDecodeError:
        ss["upload_error"] = f"scenario: {uploaded.name} is not UTF-8 text"
        return
    except ScenarioError as error:
        ss["upload_error"] = state.one_line(error)
        return
    state.load(ss, scenario, f"file {uploaded.name}")
    ss.pop("upload_error", None)


def secure_toggled() -> None:
    """Switching secure aggregation picks an access mode that makes a difference."""
    ss["access"] = state.sensible_access(bool(ss["secure_aggregation"]), str(ss["access"]))


def apply(scenario: Scenario, key: str, value: Any) -> Scenario:
    """``scenario`` with the field of widget ``key`` set, or the error under the widget."""
    path = state.WIDGETS[key]
    try:
        return scenario.replace(path, value)
    except ScenarioError as error:
        st.error(state.one_line(error), icon=":material/error:")
        errors.append(path)
        return scenario


def select(label: str, key: str, options: Any, **kwargs: Any) -> Any:
    """A selectbox on widget ``key`` (its value comes from the session)."""
    return st.selectbox(label, list(options), key=key, **kwargs)


def text(label: str, key: str, **kwargs: Any) -> str:
    """A text input on widget ``key``."""
    return str(st.text_input(label, key=key, **kwargs))


def number(label: str, key: str, **kwargs: Any) -> Any:
    """A number input on widget ``key``: float steps for float fields, 1 for int fields."""
    step = kwargs.pop("step", None) or (0.05 if key in state.FLOAT_WIDGETS else 1)
    return st.number_input(label, key=key, step=step, **kwargs)


def edit(scenario: Scenario, key: str, widget: Any, label: str, **kwargs: Any) -> Scenario:
    """Draw one widget for ``key`` and apply its value (help text from ``app.help``)."""
    kwargs.setdefault("help", words.FIELD.get(state.WIDGETS[key]))
    value = widget(label, key, **kwargs)
    if key not in state.FLOAT_WIDGETS and isinstance(value, float) and value.is_integer():
        value = int(value)
    return apply(scenario, key, value)


current = state.current(ss)
state.ensure_widgets(ss, current)
errors: list[str] = []

st.title("Scenario")
st.caption(
    "Start from an example or your own TOML file, edit the participants and the market, "
    "then run it on the **Run** page. Every value is checked by the library; hover the "
    "**?** next to a field for what it does."
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
        if ss.get("example") not in examples:
            ss["example"] = current.name if current.name in examples else examples[0]
        chosen = st.selectbox("Example", examples, key="example")
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
source_line = st.empty()

edited = current
st.subheader("General")
c1, c2, c3 = st.columns(3)
with c1:
    edited = edit(
        edited, "name", lambda label, key, **kw: st.text_input(label, key=key, **kw), "Name"
    )
with c2:
    edited = edit(edited, "rounds", number, "Rounds", min_value=1)
with c3:
    edited = edit(edited, "seed", number, "Seed", min_value=0)

with st.expander("Model and data", expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        edited = edit(edited, "model_mode", select, "Mode", options=state.CHOICES["model.mode"])
        edited = edit(
            edited, "model_backbone", select, "Backbone", options=state.CHOICES["model.backbone"]
        )
    with c2:
        edited = edit(edited, "data_val_size", number, "Validation examples", min_value=1)
        edited = edit(edited, "data_test_fraction", number, "Test fraction")
    with c3:
        edited = edit(edited, "data_utility_subset", number, "Scoring examples", min_value=10)
    with c4:
        replace = st.checkbox("Shards with replacement", key="data_replace",
                              help=words.FIELD["data.replace"])  # fmt: skip
        edited = apply(edited, "data_replace", bool(replace))
    st.caption(
        "Data partitioning: each participant gets a shard of the reviews of its group's "
        "**data size**; **label skew** (class_alpha) in the participant table makes shards "
        "non-IID (Dirichlet; 0: IID) and **label noise** flips labels."
    )

with st.expander("Local training and aggregation", expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        edited = edit(edited, "train_lr", number, "Learning rate", step=0.001, format="%.4f")
        edited = edit(edited, "train_local_epochs", number, "Local epochs", step=0.5)
    with c2:
        edited = edit(edited, "train_batch_size", number, "Batch size", min_value=1)
        edited = edit(edited, "train_prox_mu", number, "FedProx mu", step=0.01)
    with c3:
        edited = edit(
            edited,
            "train_aggregator",
            select,
            "Aggregator",
            options=state.CHOICES["train.aggregator"],
        )
        edited = edit(edited, "train_trim_fraction", number, "Trim fraction")
    with c4:
        edited = edit(edited, "train_max_update_norm", number, "Max update norm", step=1.0)
        edited = edit(edited, "train_deadline_s", number, "Deadline (s)", step=5.0)

st.subheader("Market")
c1, c2, c3 = st.columns(3)
with c1:
    edited = edit(
        edited,
        "scoring",
        select,
        "Scoring method",
        options=state.CHOICES["market.scoring"],
        format_func=str,
        help="How each participant's contribution is measured.\n\n"
        + "\n\n".join(f"**{k}**: {v}" for k, v in words.SCORING.items()),
    )
    scoring_slot = st.empty()
    edited = edit(edited, "scoring_budget", number, "Scoring budget (requested)", min_value=2)
    try:
        effective = state.effective_scoring_budget(edited)
        st.caption(
            f"Effective budget: **{effective}** utility evaluations per round with "
            f"{edited.n_identities} identities ({edited.market.scoring})."
        )
    except ValueError as error:
        st.caption(state.one_line(error))
    edited = edit(
        edited,
        "utility_metric",
        select,
        "Utility metric",
        options=state.CHOICES["market.utility_metric"],
        help="\n\n".join(f"**{k}**: {v}" for k, v in words.UTILITY_METRIC.items()),
    )
with c2:
    edited = edit(
        edited,
        "mechanism",
        select,
        "Mechanism",
        options=state.CHOICES["market.mechanism"],
        help="How the round budget is paid out.\n\n"
        + "\n\n".join(f"**{k}**: {v}" for k, v in words.MECHANISM.items()),
    )
    mechanism_slot = st.empty()
    st.caption(words.MECHANISM.get(edited.market.mechanism, ""))
    edited = edit(edited, "round_budget", number, "Budget per round (budget units)", step=10.0)
    edited = edit(
        edited,
        "selection",
        select,
        "Selection",
        options=state.CHOICES["market.selection"],
        help="\n\n".join(f"**{k}**: {v}" for k, v in words.SELECTION.items()),
    )
with c3:
    edited = edit(edited, "reputation_threshold", number, "Reputation threshold")
    edited = edit(edited, "exploration", number, "Exploration")
    edited = edit(edited, "learning_rate", number, "Participants' learning rate")

st.subheader("Privacy")
c1, c2, c3, c4 = st.columns(4)
with c1:
    secure = st.toggle(
        "Secure aggregation",
        key="secure_aggregation",
        on_change=secure_toggled,
        help=words.FIELD["privacy.secure_aggregation"],
    )
with c2:
    access = st.selectbox(
        "Access mode",
        list(state.CHOICES["privacy.access"]),
        key="access",
        disabled=not secure,
        help="What contribution scoring sees.\n\n"
        + "\n\n".join(f"**{k}**: {v}" for k, v in words.ACCESS.items()),
    )
    try:
        edited = state.with_secure_aggregation(edited, bool(secure), str(access))
    except ScenarioError as error:
        st.error(state.one_line(error), icon=":material/error:")
        errors.append("privacy.access")
    access_slot = st.empty()
with c3:
    edited = edit(edited, "neighbors", number, "Neighbours (0: all)", disabled=not secure)
    edited = edit(edited, "threshold", number, "Unmask threshold", disabled=not secure)
with c4:
    edited = edit(edited, "dropout_rate", number, "Dropout rate", disabled=not secure)
    edited = edit(
        edited,
        "threat_model",
        lambda label, key, **kw: select(label, key, state.CHOICES["privacy.threat_model"], **kw),
        "Server threat model",
        disabled=not secure,
    )
st.info(
    f"**{edited.privacy.access}**: {words.ACCESS[edited.privacy.access]}"
    + ("" if edited.privacy.secure_aggregation else " Secure aggregation is off."),
    icon=":material/shield:",
)
for notice in run_notices(edited):
    st.warning(notice, icon=":material/visibility_off:")

st.subheader("Participant groups")
st.caption(
    "One row per group of identical participants. Label skew (class_alpha) is the label "
    "skew of the data partition (0: none, 0.1: strong), speed is samples per second, cost is "
    "budget units per round of training. Add or delete rows to change the groups."
)
column = st.column_config.NumberColumn
table = st.data_editor(
    ss[state.GROUPS_FRAME_KEY],
    key=state.GROUPS_KEY,
    num_rows="dynamic",
    hide_index=True,
    column_config={
        "name": st.column_config.TextColumn("name", required=True),
        "count": column(
            "count", help="participants in the group", step=1, default=_DEFAULTS["count"]
        ),
        "data_size": column(
            "data size", help="examples each", step=1, default=_DEFAULTS["data_size"]
        ),
        "class_alpha": column(
            "label skew (class_alpha)",
            help="Dirichlet label skew of each shard (0: IID)",
            default=_DEFAULTS["class_alpha"],
        ),
        "label_noise": column(
            "label noise", help="share of labels flipped", default=_DEFAULTS["label_noise"]
        ),  # fmt: skip
        "speed": column("speed", help="samples per second", default=_DEFAULTS["speed"]),
        "availability": column(
            "availability",
            help="chance of being online in a round",
            default=_DEFAULTS["availability"],
        ),  # fmt: skip
        "cost": column("cost", help="budget units per round trained", default=_DEFAULTS["cost"]),
        "strategy": st.column_config.SelectboxColumn(
            "strategy", options=list(STRATEGIES), required=True, default="honest"
        ),
        "flip_rate": column("flip rate (noisy)", default=_DEFAULTS["flip_rate"]),
        "poison_scale": column("poison scale", default=_DEFAULTS["poison_scale"]),
        "sybil_identities": column(
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
source_line.caption(f"Current scenario: **{current.name}**, from {ss.get(state.SOURCE_KEY, '?')}.")

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
