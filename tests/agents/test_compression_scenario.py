"""``train.compression`` in scenarios: validation, the rounds table's ``bytes_sent``, and the
secure-aggregation rule (top-k cannot be masked per coordinate)."""

from __future__ import annotations

import numpy as np
import pytest

from agents import ParticipantGroup
from agents.model import MarketModel
from agents.scenario import PrivacySection, Scenario, ScenarioError, TrainSection
from fl_core.compression import update_bytes
from tests.agents.conftest import tiny_scenario


def test_bad_compression_is_one_scenario_line() -> None:
    with pytest.raises(ScenarioError) as error:
        TrainSection(compression="zip")
    assert error.value.path == "train.compression"
    assert "\n" not in str(error.value)


def test_topk_with_secure_aggregation_is_refused_naming_both_fields() -> None:
    base = tiny_scenario()
    with pytest.raises(ScenarioError) as error:
        Scenario(
            **{
                **{f: getattr(base, f) for f in ("name", "rounds", "seed", "model", "data")},
                "train": TrainSection(compression="topk"),
                "privacy": PrivacySection(secure_aggregation=True),
                "market": base.market,
                "participants": base.participants,
            }
        )
    message = str(error.value)
    assert error.value.path == "train.compression"
    assert "privacy.secure_aggregation" in message and "\n" not in message
    # int8 with secure aggregation is allowed (the masked vector is dense either way)
    base.replace("train.compression", "int8").replace("privacy.secure_aggregation", True)


@pytest.mark.parametrize("method", ["none", "int8", "topk"])
def test_rounds_table_reports_the_bytes_sent(method: str) -> None:
    scenario = tiny_scenario(ParticipantGroup("honest", count=3, data_size=60)).replace(
        "train.compression", method
    )
    model = MarketModel(scenario)
    while model.running:
        model.step()
    rounds = model.rounds_table()
    per_client = update_bytes(len(model.global_vector), method, topk_fraction=0.1)
    sent = rounds["bytes_sent"].to_numpy()[1:]
    senders = (rounds["selected"] - rounds["stragglers"]).to_numpy()[1:]
    assert np.array_equal(sent, senders * per_client)
    assert sent.sum() > 0
    assert np.isfinite(rounds["test_accuracy"]).all()
