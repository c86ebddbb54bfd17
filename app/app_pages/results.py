"""Results page: plots and tables of the latest run (all numbers from ``RunResult``)."""

from __future__ import annotations

import io
import time

import streamlit as st

from agents.dp_report import dp_line
from agents.run import smallest_group_range
from app import charts, explain, privacy_charts, state
from app import help as words
from app.runner import download

ss = st.session_state
#: Seconds between two rounds while playing.
PLAY_DELAY_S = 0.5
scenario = state.current(ss)
result = ss.get(state.RESULT_KEY)

st.title("Results")
if result is None:
    st.info("No results yet: run a scenario first.", icon=":material/info:")
    st.page_link("app_pages/run.py", label="Go to Run", icon=":material/play_arrow:")
    st.stop()
if result.scenario != scenario:
    st.warning(
        f"These results are for {result.scenario.name!r} as it was when it ran; the current "
        "scenario has changed since. Run it again to update them.",
        icon=":material/warning:",
    )

rounds, parts, summary = result.rounds, result.participants, result.summary
st.caption(
    f"**{result.scenario.name}**: mechanism {result.scenario.market.mechanism}, scoring "
    f"{result.scenario.market.scoring}, access {result.scenario.privacy.access}."
)
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Initial test accuracy", f"{summary['initial_test_accuracy']:.3f}")
c2.metric("Final test accuracy", f"{summary['final_test_accuracy']:.3f}")
c3.metric("Total paid", f"{summary['total_paid']:.1f}")
c4.metric("Budget share paid", f"{summary['budget_share_paid']:.2f}")
c5.metric(
    "Exposed clients",
    f"{summary['exposed_clients_distinct']:.0f}",
    help="Distinct participants whose individual update the server saw in some round "
    f"({summary['exposed_clients_total']:.0f} client-rounds).",
)

st.plotly_chart(charts.accuracy(rounds), key="accuracy")

st.subheader("Contribution and reward, by participant group")
c1, c2 = st.columns(2)
with c1:
    st.plotly_chart(
        charts.per_group(parts, "contribution", "Contribution per round (utility gain)"),
        key="contribution",
    )
with c2:
    st.plotly_chart(
        charts.per_group(parts, "reward", "Reward per round (budget units)"), key="reward"
    )
c1, c2 = st.columns([3, 2])
with c1:
    st.plotly_chart(charts.cumulative_profit(parts), key="profit")
with c2:
    st.markdown("**Why these payoffs**")
    for line in explain.why(result):
        st.markdown(f"- {line}")
    st.dataframe(
        explain.group_payoffs(parts),
        hide_index=True,
        key="group_payoffs",
        column_config={
            "reward_share": st.column_config.NumberColumn("reward share", format="percent"),
            "contribution_share": st.column_config.NumberColumn(
                "contribution share", format="percent"
            ),
        },
    )

last_round = int(rounds["round"].iloc[-1])
st.subheader("Participation")
ROUND, NEXT, PLAYING = "results_round", "results_round_next", "results_playing"


def step(delta: int) -> None:
    """Move the round scrubber by ``delta`` (clamped to the run), and stop playing."""
    ss[PLAYING] = False
    ss[ROUND] = min(max(int(ss.get(ROUND, last_round)) + delta, 1), last_round)


def toggle_play() -> None:
    """Start playing (from round 1 when at the end) or pause."""
    playing = not ss.get(PLAYING, False)
    ss[PLAYING] = playing
    if playing and int(ss.get(ROUND, last_round)) >= last_round:
        ss[ROUND] = 1


if last_round > 1:
    # one source of truth: the slider's session value, set before the slider is drawn
    if NEXT in ss:
        ss[ROUND] = ss.pop(NEXT)
        if ss[ROUND] >= last_round:  # played to the end: stop before the buttons are drawn
            ss[PLAYING] = False
    if not 1 <= int(ss.get(ROUND, last_round)) <= last_round:
        ss[ROUND] = last_round
    ss.setdefault(ROUND, last_round)
    c1, c2, c3, c4 = st.columns([8, 1, 1, 1], vertical_alignment="bottom")
    with c1:
        shown_round = st.slider(
            "Round (scrub through the run)",
            min_value=1,
            max_value=last_round,
            key=ROUND,
            help="The participation map and the neighbour graph below show this round.",
        )
    playing = bool(ss.get(PLAYING, False))
    c2.button(
        "Previous", key="round_prev", icon=":material/skip_previous:", on_click=step, args=(-1,)
    )
    c3.button("Next", key="round_next", icon=":material/skip_next:", on_click=step, args=(1,))
    c4.button(
        "Pause" if playing else "Play",
        key="round_play",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        on_click=toggle_play,
        help="Advance one round every half second until the last round.",
    )
else:
    shown_round = last_round
    playing = False
c1, c2 = st.columns(2)
with c1:
    st.plotly_chart(charts.participation(rounds), key="participation")
with c2:
    st.plotly_chart(
        charts.participation_map(parts[parts["round"] <= shown_round]), key="participation_map"
    )

st.subheader("Fairness")
c1, c2, c3 = st.columns(3)
with c1:
    st.plotly_chart(
        charts.fairness(summary, charts.HIGHER_IS_BETTER, "Higher is better"),
        key="fairness",
    )
with c2:
    st.plotly_chart(
        charts.fairness(summary, charts.LOWER_IS_BETTER, "Lower is better"),
        key="fairness_lower",
    )
with c3:
    st.dataframe(charts.fairness_table(summary), hide_index=True, key="fairness_table")

st.subheader("Secure aggregation")
if not result.scenario.privacy.secure_aggregation:
    st.caption(
        "Secure aggregation is off: the server sees every update (exposed clients count the "
        "individual updates it sees). Switch it on in the Scenario page to see its overhead."
    )
c1, c2, c3 = st.columns(3)
with c1:
    st.plotly_chart(privacy_charts.secagg_bytes(rounds), key="secagg_bytes")
with c2:
    st.plotly_chart(privacy_charts.secagg_seconds(rounds), key="secagg_seconds")
with c3:
    st.plotly_chart(privacy_charts.exposed_clients(rounds), key="exposed")
    access = result.scenario.privacy.access
    if access == "trusted_evaluator":
        st.warning(words.TRUSTED_EVALUATOR_CAVEAT, icon=":material/warning:")
    else:
        st.caption(f"**{access}**: {words.choice_help('privacy.access').get(access, '')}")
    if "smallest_group" in rounds:
        st.caption(
            "Smallest group the server could compute over the run: "
            f"**{smallest_group_range(summary)}**. Per round, smallest_group is a computable "
            "group of that size (the server can sum its updates; 1 means one client's update "
            "was revealed), smallest_group_at_least proves that no computable group is smaller, "
            "and smallest_group_exact says the two meet."
        )
    if "server_reads_total" in summary:
        st.caption(
            "Individual updates read over the run (every read counts, per client and round): "
            f"by the server **{int(summary['server_reads_total'])}**, by the trusted evaluator "
            f"**{int(summary['evaluator_reads_total'])}** (columns server_reads, "
            "evaluator_reads)."
        )

st.subheader("Differential privacy")
if not result.scenario.privacy.dp.enabled:
    st.caption(
        "Differential privacy is off: the model and every score are exact functions of the "
        "participants' data. Turn it on in the Scenario page (privacy.dp) to bound that."
    )
else:
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(privacy_charts.epsilon_spent(result.participants), key="dp_epsilon")
    with c2:
        st.caption(dp_line(result))
        st.caption(words.PROTECTION)

st.subheader("Neighbour graph")
if result.graph is None:
    st.info(
        "No neighbour graph: secure aggregation is off (or no round reached it).",
        icon=":material/info:",
    )
else:
    last = shown_round
    graph = result.graphs.get(last)
    if graph is None:
        st.info(
            f"Round {last} ran no secure aggregation (nobody included, or the round aborted).",
            icon=":material/info:",
        )
    else:
        st.plotly_chart(
            privacy_charts.network(graph, parts[parts["round"] == last], seed=result.scenario.seed),
            key="network",
        )
        st.caption(
            f"Round {last} (the round slider above): {graph.number_of_nodes()} participants "
            f"in the secure round, {graph.number_of_edges()} key-sharing pairs "
            f"(neighbours = {result.scenario.privacy.neighbors or 'all'})."
        )

st.subheader("Tables")
for name, frame in result.tables().items():
    with st.expander(f"{name} ({len(frame)} rows)"):
        st.dataframe(frame.round(4), hide_index=True)
    c1, c2, _ = st.columns([1, 1, 3])
    stem = f"{result.scenario.name}_{name}"
    download(c1, f"{name}.csv", frame.to_csv(index=False), f"{stem}.csv", key=f"csv_{name}")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    parquet = "application/vnd.apache.parquet"
    download(
        c2, f"{name}.parquet", buffer.getvalue(), f"{stem}.parquet", f"parquet_{name}", parquet
    )

# Play: after the page is drawn, wait a moment and move to the next round (stop at the end).
if playing:
    if shown_round < last_round:
        time.sleep(PLAY_DELAY_S)
        ss[NEXT] = shown_round + 1
        st.rerun()
    ss[PLAYING] = False  # already at the last round
