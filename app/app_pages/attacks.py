"""Exploitability page: what each attack gains over honest play, mechanism by mechanism.

Calls ``agents.attacks.attack_matrix`` on a cheap copy of the current scenario (head mode,
few rounds, one seed by default), cached by its inputs.
"""

from __future__ import annotations

import streamlit as st

import market
from agents.attacks import ATTACKER, ATTACKS, COLLUDERS
from app import compare_charts, state
from app import help as words
from app.runner import base_tokenizer, download, run_attack_matrix, valid_or_stop

ss = st.session_state
scenario = state.current(ss)

st.title("Exploitability")
st.caption(
    f"Each attack adds one **{ATTACKER}** group to **{scenario.name}** (modelled on its first "
    f"group: {COLLUDERS} owners for collusion, else one) and plays it against each mechanism. "
    "Its honest twin is the same group playing honestly on the same seed and data; the number "
    "is the attacker's payoff (reward - cost, summed over the run) minus the twin's. "
    "Positive (red) means the attack pays."
)

c1, c2, c3, c4 = st.columns(4)
with c1:
    rounds = int(
        st.number_input(
            "Rounds",
            min_value=1,
            max_value=max(scenario.rounds, 1),
            value=min(scenario.rounds, 2),
            key="attacks_rounds",
            help="Rounds per game (fewer is faster).",
        )
    )
with c2:
    n_seeds = int(
        st.number_input(
            "Seeds",
            min_value=1,
            max_value=10,
            value=1,
            key="attacks_seeds",
            help="Each game runs on the scenario's seed and the next ones; gains are averaged.",
        )
    )
with c3:
    head = st.toggle(
        "Head mode (fast)",
        value=True,
        key="attacks_head",
        help="Train a linear head on frozen embeddings instead of LoRA adapters: much faster.",
    )
with c4:
    value = st.radio(
        "Show",
        list(compare_charts.ATTACK_VALUES),
        format_func=lambda v: "relative gain" if v == "relative_gain" else "gain (budget units)",
        key="attacks_value",
    )
mechanisms = st.multiselect(
    "Mechanisms",
    list(market.MECHANISMS),
    default=[scenario.market.mechanism],
    key="attacks_mechanisms",
    help=words.choices_help("market.mechanism", sep="; "),
)
attacks = st.multiselect(
    "Attacks",
    list(ATTACKS),
    default=["free_ride_zero", "sybil_split"],
    key="attacks_attacks",
    help="Every game is two runs (attack and honest twin, the twin shared per seed): pick a few.",
)
with st.expander("What each attack does"):
    for name in ATTACKS:
        st.markdown(f"- **{name}**: {words.ATTACK.get(name, '')}")

base = scenario.replace("rounds", rounds)
if head:
    base = base.replace("model.mode", "head")
seeds = tuple(scenario.seed + k for k in range(n_seeds))
runs = len(mechanisms) * len(seeds) * (len(attacks) + 1)
valid_or_stop(base)
if not mechanisms or not attacks:
    st.info("Pick at least one mechanism and one attack.", icon=":material/info:")
    st.stop()

if st.button(f"Play {runs} runs", key="attacks_run", type="primary", icon=":material/play_arrow:"):
    base_tokenizer()
    try:
        ss["attack_matrix"] = {
            "key": (base, tuple(mechanisms), tuple(attacks), seeds),
            "table": run_attack_matrix(base, tuple(mechanisms), tuple(attacks), seeds),
        }
    except ValueError as error:  # a ScenarioError or a data error: one line, no traceback
        st.error(state.one_line(error), icon=":material/error:")
        st.stop()

played = ss.get("attack_matrix")
if played is None:
    st.info("Press **Play** to run the games.", icon=":material/info:")
    st.stop()
if played["key"] != (base, tuple(mechanisms), tuple(attacks), seeds):
    st.info("The matrix below is for earlier settings; press **Play** to update it.")
table = played["table"]
st.plotly_chart(compare_charts.attack_heatmap(table, str(value)), key="attack_heatmap")
st.dataframe(
    table.round(4),
    hide_index=True,
    key="attack_table",
    column_config={
        "relative_gain": st.column_config.NumberColumn("relative gain", format="percent"),
        "relative_low": st.column_config.NumberColumn("95% low", format="percent"),
        "relative_high": st.column_config.NumberColumn("95% high", format="percent"),
        "gain": st.column_config.NumberColumn("gain (budget units)", format="%+.3f"),
    },
)
download(
    st,
    "exploitability.csv",
    table.to_csv(index=False),
    f"{scenario.name}_exploitability.csv",
    key="attacks_csv",
)
