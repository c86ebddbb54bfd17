"""The Mesa marketplace on real (tiny-model) federated rounds."""

from __future__ import annotations

import operator

import mesa
import numpy as np
import pytest

from agents import MarketModel, ParticipantGroup, ScenarioError, run
from agents.participant_table import PARTICIPANT_COLUMNS, PARTICIPANTS_TABLE

from .conftest import tiny_scenario


def test_run_tables_have_the_promised_columns() -> None:
    result = run(tiny_scenario(rounds=2))
    assert list(result.rounds["round"]) == [0, 1, 2]
    for column in (
        "val_accuracy",
        "test_accuracy",
        "joined",
        "budget_paid",
        "scoring_evaluations",
        "secagg_bytes",
        "secagg_seconds",
        "exposed_clients",
    ):
        assert column in result.rounds
    for column in (
        "joined",
        "strategy",
        "samples",
        "contribution",
        "reward",
        "cost",
        "profit",
        "reputation",
    ):
        assert column in result.participants
    assert len(result.participants) == 2 * 3
    assert (result.rounds["budget_paid"] <= 100.0 + 1e-9).all()
    assert "fair_jain" in result.summary and "final_test_accuracy" in result.summary


def test_same_seed_same_tables_other_seed_differs() -> None:
    def tables(seed: int):  # type: ignore[no-untyped-def]
        result = run(tiny_scenario(rounds=2, seed=seed))
        timing = [c for c in result.rounds if c.endswith("seconds")]
        return result.rounds.drop(columns=timing), result.participants

    a, b, c = tables(1), tables(1), tables(2)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    assert not a[1]["contribution"].equals(c[1]["contribution"])


def test_mesa_batch_run_works() -> None:
    scenario = tiny_scenario(rounds=1)
    results = mesa.batch_run(
        MarketModel,
        parameters={"scenario": [scenario]},
        iterations=1,
        max_steps=1,
        display_progress=False,
    )
    assert results and "test_accuracy" in results[-1]


def test_secure_aggregation_round_reports_bytes_and_exposure() -> None:
    scenario = (
        tiny_scenario(ParticipantGroup("honest", count=4, data_size=50), rounds=1)
        .replace("privacy.secure_aggregation", True)
        .replace("privacy.access", "secure_coalitions")
    )
    rounds = run(scenario).rounds
    row = rounds.iloc[1]
    assert row["secagg_bytes"] > row["plain_bytes"] > 0
    assert row["scoring_secagg_runs"] > 0
    # exact scoring releases every coalition: every client is exposed
    assert row["exposed_clients"] == 4
    evaluator = run(scenario.replace("privacy.access", "trusted_evaluator")).rounds.iloc[1]
    assert evaluator["exposed_clients"] == 0


def test_incompatible_settings_are_refused_at_construction() -> None:
    secure = tiny_scenario().replace("privacy.secure_aggregation", True)
    with pytest.raises(ScenarioError, match="train.aggregator") as error:
        secure.replace("train.aggregator", "median")
    assert error.value.path == "train.aggregator"


def test_bad_update_is_rejected_with_a_reason_and_unpaid() -> None:
    scenario = tiny_scenario(
        ParticipantGroup("honest", count=3, data_size=60),
        ParticipantGroup("poisoner", count=1, data_size=60, strategy="poisoner", poison_scale=1e6),
        rounds=1,
    )
    result = run(scenario)
    poisoner = result.participants[result.participants["strategy"] == "poisoner"].iloc[0]
    assert "norm" in poisoner["rejected_reason"]
    assert poisoner["reward"] == 0.0 and not poisoner["included"]
    assert result.rounds.iloc[1]["rejected"] == 1
    assert np.isfinite(result.rounds.iloc[1]["test_accuracy"])


def test_every_secure_round_keeps_its_neighbour_graph() -> None:
    scenario = (
        tiny_scenario(ParticipantGroup("honest", count=4, data_size=60), rounds=2)
        .replace("privacy.secure_aggregation", True)
        .replace("privacy.neighbors", 2)
    )
    result = run(scenario)
    rounds = result.rounds.set_index("round")
    secure = [r for r in (1, 2) if rounds.loc[r, "included"] >= 2 and not rounds.loc[r, "aborted"]]
    assert sorted(result.graphs) == secure and secure
    for r in secure:
        included = result.participants.query("round == @r and included")["participant"]
        assert set(result.graphs[r].nodes) >= set(included)
    assert result.graph is result.graphs[max(secure)]


def test_participants_table_equals_each_agents_own_values() -> None:
    # The column-wise collection must give exactly what each column's reporter (an
    # attribute name or a function of the agent) gives, agent by agent, with the same types.
    # Mutation tried: reading ``excluded`` as numpy bools (no ``tolist``) fails the type check.
    # Prepare
    scenario = tiny_scenario(
        ParticipantGroup(name="honest", count=4, data_size=24),
        ParticipantGroup(name="free", count=2, strategy="free_rider", data_size=24),
        rounds=2,
    )
    model = MarketModel(scenario)
    for step in (1, 2):
        model.step()
        # Execute
        table = model.datacollector.tables[PARTICIPANTS_TABLE]
        rows = [i for i, r in enumerate(table["round"]) if r == step]
        # Assert
        assert len(rows) == 6
        for row, agent in zip(rows, model.participants, strict=True):
            assert table["agent_id"][row] == agent.unique_id
            for name, column in PARTICIPANT_COLUMNS.items():
                read = operator.attrgetter(column) if isinstance(column, str) else column
                want = read(agent)
                got = table[name][row]
                assert type(got) is type(want) and (got == want or (got != got and want != want))


def test_each_round_reports_what_replicating_would_have_gained() -> None:
    """Issue 12's per-run Sybil-gain estimate: replayed on each round's utility table.

    Under the default mechanism replicas are grouped and their marginals to the round are 0,
    so replicating gains nothing; the broken variant, ``flat`` (pays per head), pays three
    heads for one training run and must show a positive gain.
    """
    groups = (ParticipantGroup("honest", count=4, data_size=60, cost=1.0),)
    default = run(tiny_scenario(*groups, mechanism="banzhaf_cover"))
    scored = default.rounds[default.rounds["round"] > 0]
    assert np.isfinite(scored["sybil_gain_max"]).all()
    assert default.summary["sybil_gain_estimate"] <= 1e-9
    flat = run(tiny_scenario(*groups, mechanism="flat"))
    assert flat.summary["sybil_gain_estimate"] > 1.0
    # a round too large to replay from its table reports nan, not a guess
    big = run(tiny_scenario(ParticipantGroup("honest", count=11, data_size=30), rounds=1))
    assert np.isnan(big.rounds["sybil_gain_max"].iloc[-1])
