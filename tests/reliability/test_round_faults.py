"""Whole marketplace rounds with dropouts and stragglers: the right aggregate or a clean abort.

Issue 8, item 3, through the agents (the privacy-layer cases are in
``test_secagg_dropouts.py``). Each generated scenario runs real (tiny-model, head-mode) rounds
with participants that straggle (too slow for the deadline, or too little data), drop out of
secure aggregation at a random stage (``privacy.dropout_rate``), free-ride, poison or split
into Sybils. After every round, checked against an oracle computed here from the
participants' own updates:

* stragglers send nothing and are neither included nor paid;
* a round that finishes moves the global model by exactly the FedAvg of exactly the included
  updates (clipped and quantised under secure aggregation: within the stated error bound);
* a secure round aborts exactly when fewer than t clients survive a stage (complete graph;
  with SecAgg+ at least then), and an aborted round is recorded as such: ``aborted`` and an
  ``abort_reason`` in the round row, nobody included, nobody paid, the global model bit for
  bit unchanged;
* nobody outside the included set is ever paid, and payments stay within the round budget.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import privacy
from agents import MarketModel, ParticipantAgent, ParticipantGroup, Scenario
from fl_core import FederatedTask
from privacy import quantization
from tests.agents.conftest import tiny_scenario

CASES = 150
"""Generated scenarios (two rounds each)."""
BEFORE_MASKED_INPUT = ("advertise_keys", "share_keys", "masked_input")
SPEEDS = (0.2, 0.3, 3.2, 3.2)
"""Samples per second; with the 60 s deadline and min_samples = 16 the first straggles."""


@pytest.fixture(scope="module")
def task() -> FederatedTask:
    """One tiny head-mode task for every case, with the whole training pool's features."""
    shared = MarketModel(tiny_scenario(rounds=1)).task
    shared.precompute(np.arange(len(shared.train_labels)))
    return shared


@st.composite
def groups(draw: st.DrawFn, index: int) -> ParticipantGroup:
    strategy = draw(st.sampled_from(["honest", "honest", "free_rider", "poisoner", "sybil"]))
    return ParticipantGroup(
        f"g{index}",
        count=draw(st.integers(1, 3)),
        data_size=draw(st.integers(30, 60)),
        speed=draw(st.sampled_from(SPEEDS)),
        availability=draw(st.sampled_from([1.0, 1.0, 0.7])),
        cost=draw(st.sampled_from([0.0, 2.0])),
        strategy=strategy,
        poison_scale=draw(st.sampled_from([-3.0, 2.0])),
        sybil_identities=2,
        free_ride=draw(st.sampled_from(["zero", "stale"])),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n_groups = draw(st.integers(1, 3))
    base = tiny_scenario(
        *(draw(groups(i)) for i in range(n_groups)),
        rounds=2,
        seed=draw(st.integers(0, 3)),
        scoring="loo",
        mechanism=draw(st.sampled_from(["shapley_fair", "proportional", "flat", "auction"])),
        exploration=0.5,
    )
    if draw(st.integers(0, 4)) == 0:  # plaintext, with FedAvg or the coordinate median
        return base.replace("train.aggregator", draw(st.sampled_from(["fedavg", "median"])))
    return (
        base.replace("privacy.secure_aggregation", True)
        .replace(
            "privacy.access", draw(st.sampled_from(["trusted_evaluator", "secure_coalitions"]))
        )
        .replace("privacy.threshold", draw(st.sampled_from([0.2, 0.5, 0.8, 1.0])))
        .replace("privacy.neighbors", draw(st.sampled_from([0, 0, 1, 2])))
        .replace("privacy.dropout_rate", draw(st.sampled_from([0.0, 0.3, 0.6, 0.9])))
        .replace("privacy.clip", draw(st.sampled_from([1.0, 0.02])))
    )


def _is_straggler(p: ParticipantAgent, task: FederatedTask) -> bool:
    """fl_core's compute rule, restated: samples this round = min(speed x deadline, epochs x
    shard), and a trainer below ``min_samples`` is a straggler."""
    cfg = task.train_config
    epochs = cfg.resolved_local_epochs(p.model.scenario.model.mode)
    budget = min(math.floor(p.speed * cfg.deadline_s), math.ceil(epochs * len(p.shard)))
    return p.selected and p.trains and budget < cfg.min_samples


def _threshold(scenario: Scenario, n: int) -> tuple[int, bool]:
    """The Shamir threshold t and whether the graph is complete, from the scenario's rule:
    ``threshold`` is the share of the clients (SecAgg) or of the neighbours (SecAgg+), never
    below 2; a SecAgg+ degree is raised by ``privacy.secaggplus_parameters`` (Bell et al.
    2020) until the dropout rate's abort bound is met. Fewer than 2 clients cannot run."""
    if n < 2:
        return 2, True
    share, k = scenario.privacy.threshold, scenario.privacy.neighbors
    if k <= 0 or k >= n - 1:
        return min(n, max(2, math.ceil(share * n))), True
    chosen = privacy.secaggplus_parameters(
        n, dropout_rate=scenario.privacy.dropout_rate, threshold_share=share, min_neighbors=k
    )
    return chosen.threshold, chosen.neighbors is None


def _check_round(model: MarketModel, base: np.ndarray, last_step: np.ndarray | None) -> None:
    scenario, task = model.scenario, model.task
    row = dataclasses.asdict(model.record)
    ordered = sorted(model.participants, key=lambda p: p.pid)
    # stragglers: nothing sent, nothing included, nothing paid
    stragglers = [p for p in ordered if _is_straggler(p, task)]
    assert [p.pid for p in ordered if p.straggler] == [p.pid for p in stragglers]
    assert row["stragglers"] == len(stragglers)
    for p in stragglers:
        assert p.update is None and not p.included and p.reward == 0.0
    accepted = [p for p in ordered if p.update is not None]  # trained (or free-rode), screened
    secure = scenario.privacy.secure_aggregation
    # the oracle: who must be included, and whether the round must abort
    must_abort, may_abort = False, False
    if secure and accepted:
        t, complete = _threshold(scenario, len(accepted))
        stage_order = {s: k for k, s in enumerate((*BEFORE_MASKED_INPUT, "unmasking"))}
        stops = [stage_order.get(p.dropped_stage, 4) for p in accepted]
        fewest = min(sum(s > k for s in stops) for k in range(4))
        must_abort = fewest < t
        may_abort = must_abort or not complete  # SecAgg+: a secret may lack t holders
    else:
        assert all(p.dropped_stage == "" for p in ordered)
    assert row["dropouts"] == sum(bool(p.dropped_stage) for p in accepted)
    paid = sum(p.reward for p in ordered)
    assert row["budget_paid"] == pytest.approx(paid, rel=1e-12, abs=1e-12)
    assert paid <= scenario.market.round_budget * (1 + 1e-9)
    if row["aborted"]:
        event("round aborted")
        assert may_abort, f"aborted although every stage kept t clients: {row['abort_reason']}"
        assert row["abort_message"].startswith("secure aggregation aborted")
        assert row["abort_reason"] in typing.get_args(privacy.errors.AbortReason)
        assert row["included"] == 0 and row["budget_paid"] == 0.0
        assert not any(p.included for p in ordered)
        assert all(p.reward == 0.0 for p in ordered)
        assert np.array_equal(model.global_vector, base)  # bit for bit unchanged
        assert (model.last_step is None and last_step is None) or np.array_equal(
            model.last_step, last_step
        )
        return
    assert not must_abort, "finished although a stage had fewer than t clients"
    assert row["abort_reason"] == "" and row["abort_message"] == ""
    included = [p for p in accepted if p.dropped_stage not in BEFORE_MASKED_INPUT]
    assert [p.pid for p in ordered if p.included] == [p.pid for p in included]
    assert row["included"] == len(included)
    assert all(p.reward == 0.0 for p in ordered if not p.included)
    if not included:
        event("nobody included")
        assert np.array_equal(model.global_vector, base) and row["budget_paid"] == 0.0
        return
    event("secure round finished" if secure else "plaintext round finished")
    weights = np.array([metered(p) for p in included])
    updates = np.stack([np.asarray(p.update, dtype=np.float64) for p in included])
    bound = 0.0
    if secure:  # clients clip their update, pre-weighted by w / (the largest w sent), then mask
        clip, scale = scenario.privacy.clip, max(metered(p) for p in accepted)
        pre = np.clip(updates * (weights / scale)[:, None], -clip, clip)
        expected = pre.sum(axis=0) * scale / weights.sum()
        bound = quantization.max_error(
            clip=clip, bits=scenario.privacy.bits, n_summands=len(accepted), m=len(included)
        ) * (scale / weights.sum())
    elif scenario.train.aggregator == "median":
        expected = np.median(updates, axis=0)
    else:
        expected = (weights[:, None] * updates).sum(axis=0) / weights.sum()
    actual = model.global_vector.astype(np.float64) - base.astype(np.float64)
    eps = float(np.finfo(np.float32).eps)
    rounding = 2 * eps * (np.abs(expected) + np.abs(base) + np.abs(model.global_vector))
    assert np.all(np.abs(actual - expected) <= bound + rounding)


def metered(p: ParticipantAgent) -> float:
    """FedAvg's weight: the distinct examples the client trained on (no colluders here)."""
    return float(min(p.samples, len(p.shard)))


@given(scenario=scenarios())
@settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_rounds_use_the_aggregate_of_exactly_the_included_or_abort_cleanly(
    task: FederatedTask, scenario: Scenario
) -> None:
    # Prepare
    model = MarketModel(scenario, task=task)
    for _ in range(scenario.rounds):
        base = model.global_vector.copy()
        last_step = None if model.last_step is None else model.last_step.copy()
        # Execute
        model.step()
        # Assert
        _check_round(model, base, last_step)
    rows = model.rounds_table().to_dict("records")[1:]
    assert [r["round"] for r in rows] == list(range(1, scenario.rounds + 1))
    aborted = [r for r in rows if r["aborted"]]
    assert all(r["budget_paid"] == 0.0 for r in aborted)
