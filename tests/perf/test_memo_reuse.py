"""Utilities are reused across rounds and methods, never recomputed."""

from __future__ import annotations

import numpy as np

import market
from agents import ParticipantGroup, Scenario
from agents.model import MarketModel
from agents.scenario import (
    DataSection,
    MarketSection,
    ModelSection,
    PrivacySection,
    TrainSection,
)
from fl_core import CoalitionUtility
from tests.perf.conftest import perturbed


def test_next_round_start_model_is_this_round_grand_coalition() -> None:
    # Prepare: plaintext FedAvg, GTG (asks for the empty and the grand coalition every round)
    scenario = Scenario(
        name="memo",
        rounds=2,
        model=ModelSection(backbone="tiny", mode="lora", adapted_layers=1),
        data=DataSection(val_size=100, max_length=48, utility_subset=40),
        train=TrainSection(lr=0.05),
        privacy=PrivacySection(secure_aggregation=False),
        market=MarketSection(scoring="gtg", scoring_budget=6),
        participants=(ParticipantGroup("honest", count=3, data_size=40, cost=0.0),),
    )
    model = MarketModel(scenario)
    # Execute
    model.step()
    evaluator = model.task.coalition_evaluator("val", model.utility_indices)
    hits, evaluated = evaluator.memo_hits, evaluator.evaluated
    model.step()
    # Assert: round 2's empty coalition came from the memo (one hit at least, and every
    # participant got a finite contribution)
    assert model.record.included == 3
    assert evaluator.memo_hits >= hits + 1
    assert evaluator.evaluated < evaluated + model.record.scoring_evaluations
    assert all(np.isfinite(p.contribution) for p in model.participants)


def test_estimators_share_one_utility_memo(head_task) -> None:  # type: ignore[no-untyped-def]
    evaluator = head_task.coalition_evaluator("val")
    deltas = list(perturbed(head_task, 4, 0.1, seed=3) - head_task.initial_vector)
    utility = CoalitionUtility(
        evaluator.evaluate,
        head_task.initial_vector,
        deltas,
        [1.0] * 4,
        metric="neg_loss",
        evaluate_many=evaluator.evaluate_many,
    )
    exact = market.estimate(utility, 4, "exact")
    before = utility.evaluations
    loo = market.estimate(utility, 4, "loo")
    gtg = market.estimate(utility, 4, "gtg", budget=16, rng=np.random.default_rng(0))
    # every coalition was already in the memo: no new evaluation for the other methods
    assert before == 16 and utility.evaluations == 16
    assert loo.evaluations == 5 and gtg.evaluations <= 16
    assert abs(exact.values.sum() - (utility(frozenset(range(4))) - utility(frozenset()))) < 1e-9
