"""An aborted secure round is recorded with its typed reason, its message, and its graph (issue 27).

``abort_reason`` holds the stable reason code of ``privacy.SecAggAborted`` (what a user filters
on), ``abort_message`` the one-line message, and the round keeps the neighbour graph the
protocol built before it stopped (``model.graphs``).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest

import agents.secure_sum
import privacy
from agents import MarketModel
from agents.reports import AggregationReport
from privacy.errors import AbortReason
from tests.agents.conftest import tiny_scenario

REASONS = set(typing.get_args(AbortReason))


def aborting_model(seed: int) -> MarketModel:
    """Three clients under SecAgg with t = n, each dropping out with probability 0.9."""
    scenario = (
        tiny_scenario(rounds=1, seed=seed, scoring="loo")
        .replace("privacy.secure_aggregation", True)
        .replace("privacy.access", "secure_coalitions")
        .replace("privacy.threshold", 1.0)
        .replace("privacy.neighbors", 0)
        .replace("privacy.dropout_rate", 0.9)
    )
    return MarketModel(scenario)


def check_abort_row(row: dict[str, Any]) -> None:
    """What a reader of the rounds table relies on for an aborted round."""
    assert row["aborted"]
    assert row["abort_reason"] in REASONS, row["abort_reason"]
    assert row["abort_message"].startswith("secure aggregation aborted")
    assert "\n" not in row["abort_message"]
    assert row["included"] == 0 and row["budget_paid"] == 0.0


def first_abort() -> tuple[MarketModel, dict[str, Any]]:
    for seed in range(10):
        model = aborting_model(seed)
        model.step()
        row = dataclasses.asdict(model.record)
        if row["aborted"]:
            return model, row
    raise AssertionError("no seed in 0..9 aborted at a 0.9 dropout rate with t = n")


def test_a_real_aborted_round_records_the_typed_reason_and_the_message() -> None:
    model, row = first_abort()
    check_abort_row(row)
    assert row["abort_reason"] == "too_few_survivors"  # t = n: any dropout is too many
    finished = MarketModel(tiny_scenario(rounds=1).replace("privacy.secure_aggregation", True))
    finished.step()
    assert (finished.record.abort_reason, finished.record.abort_message) == ("", "")


def test_the_message_in_abort_reason_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken variant: the old record (the message text as the reason) fails the check."""

    def old(self: AggregationReport, error: Exception) -> None:
        self.aborted, self.abort_reason = True, str(error).splitlines()[0]

    monkeypatch.setattr(AggregationReport, "record_abort", old)
    _, row = first_abort()
    with pytest.raises(AssertionError):
        check_abort_row(row)


def test_an_aborted_round_keeps_the_graph_it_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """A protocol that attaches its neighbour graph to the abort (``error.graph``): the round
    row says why, and ``model.graphs`` holds that round's graph."""
    graph = object()

    def aborts(*args: object, **kwargs: object) -> None:
        error = privacy.DisconnectedSurvivors("unmasking", [[0], [1, 2]])
        error.graph = graph  # type: ignore[attr-defined]  # what privacy/ attaches to aborts
        raise error

    monkeypatch.setattr(agents.secure_sum, "secure_sum", aborts)
    model = aborting_model(0)
    model.step()
    row = dataclasses.asdict(model.record)
    check_abort_row(row)
    assert row["abort_reason"] == "disconnected_survivors"
    assert model.graphs[model.round] is graph
    # broken variant: a record that drops the graph leaves the aborted round without one
    monkeypatch.setattr(
        AggregationReport, "record_abort", lambda self, error: setattr(self, "aborted", True)
    )
    model = aborting_model(0)
    model.step()
    assert model.round not in model.graphs


def test_an_abort_without_a_reason_code_falls_back_to_its_class_name() -> None:
    """Until every abort carries ``reason``: the class name in snake_case, the first line."""

    class QuorumLost(RuntimeError):
        pass

    report = AggregationReport()
    report.record_abort(QuorumLost("secure aggregation aborted: lost quorum\nsecond line"))
    assert report.aborted and report.abort_reason == "quorum_lost"
    assert report.abort_message == "secure aggregation aborted: lost quorum"
    report.record_abort(privacy.TooFewSurvivors("share_keys", 1, 3))
    assert report.abort_reason == "too_few_survivors" and report.graph is None
