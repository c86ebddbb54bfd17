"""Run page: run the current scenario with live per-round progress (cached by scenario)."""

from __future__ import annotations

import streamlit as st

from app import charts, state, sweep_state
from app.runner import base_tokenizer, remember, run_scenario, run_seeds, valid_or_stop

ss = st.session_state
scenario = state.current(ss)

st.title("Run")
source = ss.get(state.SOURCE_KEY, "?")
st.caption(
    f"**{scenario.name}** ({source}): {state.summary_line(scenario)}. Edit it on the Scenario "
    "page; a scenario that ran before comes back from the cache at once."
)
valid_or_stop(scenario)

c1, c2 = st.columns([1, 3])
with c1:
    n_seeds = int(
        st.number_input(
            "Seeds",
            min_value=1,
            max_value=20,
            value=1,
            step=1,
            key="run_seeds",
            help="Run the scenario's seed and the next ones; with 2 or more the page shows the "
            "mean and 95% interval of each summary metric.",
        )
    )
if st.button("Run", key="run", type="primary", icon=":material/play_arrow:"):
    base_tokenizer()
    try:
        ss[state.RESULT_KEY] = run_scenario(scenario)
        remember(ss, ss[state.RESULT_KEY])
        if n_seeds > 1:
            seeds = tuple(scenario.seed + k for k in range(n_seeds))
            results, spread = run_seeds(scenario, seeds)
            ss["seed_spread"] = {"scenario": scenario, "seeds": seeds, "table": spread}
            for one in results:
                remember(ss, one)
    except ValueError as error:  # a ScenarioError or a data error: one line, no traceback
        st.error(state.one_line(error), icon=":material/error:")
        st.stop()

result = ss.get(state.RESULT_KEY)
if result is None:
    st.info("Press **Run** to simulate the marketplace round by round.", icon=":material/info:")
elif result.scenario != scenario:
    st.info(
        f"The last result is for an earlier scenario ({result.scenario.name!r}); press **Run** "
        "for the current one.",
        icon=":material/info:",
    )
else:
    summary = result.summary
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Initial test accuracy", f"{summary['initial_test_accuracy']:.3f}")
    c2.metric("Final test accuracy", f"{summary['final_test_accuracy']:.3f}")
    c3.metric("Total paid", f"{summary['total_paid']:.1f}")
    c4.metric("Pearson(reward, contribution)", f"{summary['fair_pearson']:.3f}")
    spread = ss.get("seed_spread")
    if spread and spread["scenario"] == scenario:
        seeds = spread["seeds"]
        st.subheader(f"Over {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}): mean and 95% interval")
        st.dataframe(
            sweep_state.spread_table(spread["table"]), hide_index=True, key="seed_spread_table"
        )
    st.plotly_chart(charts.accuracy(result.rounds), key="run_accuracy")
    st.page_link("app_pages/results.py", label="All results", icon=":material/monitoring:")
