"""The head-mode crowd of ``bench.scale`` and ``bench.vs_flower``: frozen all-MiniLM-L6-v2
sentence embeddings (cached on disk) and a federated linear head; every participant holds
:data:`SHARD` reviews sampled with replacement from the training pool (``data.replace``), so
any number of participants fits the pool."""

from __future__ import annotations

from collections.abc import Sequence

from agents.scenario import (
    DataSection,
    MarketSection,
    ModelSection,
    ParticipantGroup,
    PrivacySection,
    Scenario,
)

SHARD = 32
"""Reviews per participant (``participants.<group>.data_size``)."""


def head_crowd(
    name: str,
    rounds: int,
    groups: Sequence[ParticipantGroup],
    *,
    privacy: PrivacySection,
    market: MarketSection,
) -> Scenario:
    """A head-mode scenario of ``groups`` (each with ``data_size = SHARD``), the rest default."""
    return Scenario(
        name=name,
        rounds=rounds,
        model=ModelSection(mode="head"),
        data=DataSection(replace=True),
        privacy=privacy,
        market=market,
        participants=tuple(groups),
    )
