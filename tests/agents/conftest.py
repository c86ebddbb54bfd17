from __future__ import annotations

from agents import ParticipantGroup, Scenario
from agents.scenario import (
    DataSection,
    MarketSection,
    ModelSection,
    PrivacySection,
    TrainSection,
)


def tiny_scenario(
    *groups: ParticipantGroup, rounds: int = 2, seed: int = 0, **market: object
) -> Scenario:
    """A scenario on the tiny random BERT in head mode: a round takes well under a second.

    Updates travel in the clear here (tests that need secure aggregation turn it on)."""
    return Scenario(
        name="tiny",
        rounds=rounds,
        seed=seed,
        model=ModelSection(backbone="tiny", mode="head"),
        data=DataSection(val_size=100, max_length=48, utility_subset=100),
        train=TrainSection(lr=0.05),
        privacy=PrivacySection(secure_aggregation=False),
        market=MarketSection(**{"scoring": "exact", "utility_metric": "neg_loss", **market}),  # type: ignore[arg-type]
        participants=groups or (ParticipantGroup("honest", count=3, data_size=60),),
    )
