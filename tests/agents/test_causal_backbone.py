"""Scenarios on a causal backbone: ``tiny_causal`` end to end, ``smollm2`` validated.

The real SmolLM2 run is in ``tests/slow/test_smollm2_backbone.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents import ParticipantGroup, Scenario, ScenarioError, run
from agents.scenario import BACKBONES, load_example

from .conftest import tiny_scenario


@pytest.mark.parametrize("mode", ["head", "lora"])
def test_tiny_causal_scenario_runs_end_to_end(mode: str) -> None:
    scenario = tiny_scenario(
        ParticipantGroup("honest", count=2, data_size=40),
        ParticipantGroup("riders", count=1, data_size=40, strategy="free_rider"),
        rounds=2,
    )
    scenario = scenario.replace("model.backbone", "tiny_causal").replace("model.mode", mode)
    if mode == "lora":
        scenario = scenario.replace("model.adapted_layers", 1).replace("train.lr", 5e-3)
    result = run(scenario)
    rounds = result.rounds
    assert len(rounds) == scenario.rounds + 1
    assert np.isfinite(rounds["val_loss"]).all()
    assert rounds["val_loss"].iloc[-1] != rounds["val_loss"].iloc[0]  # the model moved
    paid = result.participants.groupby("strategy")["reward"].sum()
    assert paid["free_rider"] <= paid["honest"]


def test_smollm2_is_a_valid_backbone_and_its_example_uses_it() -> None:
    assert {"smollm2", "tiny_causal"} <= set(BACKBONES)
    example = load_example("smollm2_head")
    assert example.model.backbone == "smollm2" and example.model.mode == "head"
    assert Scenario.from_toml_string(example.to_toml()) == example
    # 30 decoder blocks: more adapted layers than MiniLM has are fine on SmolLM2
    assert example.replace("model.adapted_layers", 12).model.adapted_layers == 12
    with pytest.raises(ScenarioError, match="model.adapted_layers"):
        example.replace("model.backbone", "minilm").replace("model.adapted_layers", 12)
    with pytest.raises(ScenarioError, match="model.backbone"):
        example.replace("model.backbone", "llama-70b")
