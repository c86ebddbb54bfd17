"""Scenario page: start from an example or a TOML file, edit every section, download it.

The scenario in the session is the one source of truth. Every widget is keyed
(``state.WIDGETS``) and holds no default of its own: loading an example or uploading a file
writes the new scenario's values into every key (``state.load``) before the page is drawn,
so no widget keeps an older scenario's value. Every edit goes through the library
(``Scenario.replace`` / ``Scenario.from_dict``); a bad value shows the library's one-line
error under its widget, and the other pages keep using the last valid scenario.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from agents import Scenario, ScenarioError
from agents.notices import run_notices
from agents.scenario import FieldDoc, list_examples, load_example
from app import help as words
from app import state
from app.runner import check, download

ss = st.session_state


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


def select(label: str, key: str, **kwargs: Any) -> Any:
    """A selectbox on widget ``key`` over its field's choices (its value comes from the session)."""
    return st.selectbox(label, list(state.CHOICES[state.WIDGETS[key]]), key=key, **kwargs)


def text(label: str, key: str, **kwargs: Any) -> str:
    """A text input on widget ``key``."""
    return str(st.text_input(label, key=key, **kwargs))


def number(label: str, key: str, **kwargs: Any) -> Any:
    """A number input on widget ``key`` within its field's closed bounds: float steps for
    float fields, 1 for int fields."""
    step = kwargs.pop("step", None) or (0.05 if key in state.FLOAT_WIDGETS else 1)
    limits = state.number_limits(state.WIDGETS[key])
    return st.number_input(label, key=key, step=step, **limits, **kwargs)


def edit(scenario: Scenario, key: str, widget: Any, **kwargs: Any) -> Scenario:
    """Draw one widget for ``key`` and apply its value (label, help and bounds from the
    scenario's field description; a field with choices lists what each does)."""
    path = state.WIDGETS[key]
    kwargs.setdefault("help", words.choices_help(path))
    value = widget(state.widget_label(key), key, **kwargs)
    if key not in state.FLOAT_WIDGETS and isinstance(value, float) and value.is_integer():
        value = int(value)
    return apply(scenario, key, value)


def column(doc: FieldDoc) -> Any:
    """The participant table's column for the group field ``doc``."""
    options = doc.choices()
    if doc.name == "name":
        return st.column_config.TextColumn("name", required=True)
    if options is not None:
        return st.column_config.SelectboxColumn(
            doc.label, help=doc.help, options=list(options), required=True, default=doc.default
        )
    step = None if doc.is_float else 1
    return st.column_config.NumberColumn(doc.label, help=doc.help, step=step, default=doc.default)


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
    edited = edit(edited, "name", text)
with c2:
    edited = edit(edited, "rounds", number)
with c3:
    edited = edit(edited, "seed", number)

with st.expander("Model and data", expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        edited = edit(edited, "model_mode", select)
        edited = edit(edited, "model_backbone", select)
    with c2:
        edited = edit(edited, "data_dataset", select)
        edited = edit(edited, "data_val_size", number)
        edited = edit(edited, "data_test_fraction", number)
    with c3:
        edited = edit(edited, "data_partition", select)
        edited = edit(edited, "data_utility_subset", number)
    with c4:
        edited = edit(
            edited, "data_replace", lambda label, key, **kw: st.checkbox(label, key=key, **kw)
        )
    st.caption(
        "Data partitioning: with **allocate**, each participant gets a shard of its group's "
        "**data size**; **label skew** (class_alpha) in the participant table makes shards "
        "non-IID (Dirichlet; 0: IID) and **label noise** flips labels. With **natural** "
        "(drug_reviews), each participant holds whole medical conditions instead."
    )

with st.expander("Local training and aggregation", expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        edited = edit(edited, "train_lr", number, step=0.001, format="%.4f")
        edited = edit(edited, "train_local_epochs", number, step=0.5)
    with c2:
        edited = edit(edited, "train_batch_size", number)
        edited = edit(edited, "train_prox_mu", number, step=0.01)
    with c3:
        edited = edit(edited, "train_aggregator", select)
        edited = edit(edited, "train_trim_fraction", number)
    with c4:
        edited = edit(edited, "train_max_update_norm", number, step=1.0)
        edited = edit(edited, "train_deadline_s", number, step=5.0)

st.subheader("Market")
c1, c2, c3 = st.columns(3)
with c1:
    edited = edit(edited, "scoring", select, format_func=str)
    scoring_slot = st.empty()
    edited = edit(edited, "scoring_budget", number)
    try:
        effective = state.effective_scoring_budget(edited)
        st.caption(
            f"Effective budget: **{effective}** utility evaluations per round with "
            f"{edited.n_identities} identities ({edited.market.scoring})."
        )
    except ValueError as error:
        st.caption(state.one_line(error))
    edited = edit(edited, "utility_metric", select)
with c2:
    edited = edit(edited, "mechanism", select)
    mechanism_slot = st.empty()
    st.caption(words.choice_help("market.mechanism").get(edited.market.mechanism, ""))
    edited = edit(edited, "round_budget", number, step=10.0)
with c3:
    edited = edit(edited, "reputation_threshold", number)
    edited = edit(edited, "exploration", number)
    edited = edit(edited, "learning_rate", number)

st.subheader("Privacy")
c1, c2, c3, c4 = st.columns(4)
with c1:
    secure = st.toggle(
        state.widget_label("secure_aggregation"),
        key="secure_aggregation",
        on_change=secure_toggled,
        help=words.field_help("privacy.secure_aggregation"),
    )
with c2:
    access = select(
        state.widget_label("access"),
        "access",
        disabled=not secure,
        help=words.choices_help("privacy.access"),
    )
    try:
        edited = state.with_secure_aggregation(edited, bool(secure), str(access))
    except ScenarioError as error:
        st.error(state.one_line(error), icon=":material/error:")
        errors.append("privacy.access")
    access_slot = st.empty()
with c3:
    edited = edit(edited, "neighbors", number, disabled=not secure)
    edited = edit(edited, "threshold", number, disabled=not secure)
with c4:
    edited = edit(edited, "dropout_rate", number, disabled=not secure)
    edited = edit(edited, "threat_model", select, disabled=not secure)
access_help = words.choice_help("privacy.access")
st.info(
    f"**{edited.privacy.access}**: {access_help[edited.privacy.access]}"
    + ("" if edited.privacy.secure_aggregation else " Secure aggregation is off."),
    icon=":material/shield:",
)
st.markdown("**Differential privacy** (client-level DP-FedAvg; noise added before masking)")
c1, c2, c3, c4, c5 = st.columns(5)
with c1:
    edited = edit(edited, "dp_enabled", lambda label, key, **kw: st.toggle(label, key=key, **kw))
dp_off = not edited.privacy.dp.enabled
with c2:
    edited = edit(edited, "dp_epsilon", number, step=1.0, disabled=dp_off)
with c3:
    edited = edit(edited, "dp_delta", number, step=1e-5, format="%.1e", disabled=dp_off)
with c4:
    edited = edit(edited, "dp_clip", number, step=0.5, disabled=dp_off)
with c5:
    edited = edit(edited, "dp_budget_covers", select, disabled=dp_off)
st.caption(words.PROTECTION)
for notice in run_notices(edited):
    st.warning(notice, icon=":material/visibility_off:")

st.subheader("Participant groups")
st.caption(
    "One row per group of identical participants; hover a column's name for what it holds. "
    "Add or delete rows to change the groups."
)
table = st.data_editor(
    ss[state.GROUPS_FRAME_KEY],
    key=state.GROUPS_KEY,
    num_rows="dynamic",
    hide_index=True,
    column_config={doc.name: column(doc) for doc in state.group_columns()},
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
st.caption(f"{state.summary_line(current)}.")
download(
    st,
    "Download scenario as TOML",
    current.to_toml(),
    f"{current.name}.toml",
    key="download_toml",
    mime="application/toml",
)
with st.expander("TOML"):
    st.code(current.to_toml(), language="toml")
