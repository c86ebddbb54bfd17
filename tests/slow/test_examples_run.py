"""Every shipped example runs end to end (shortened to two rounds; the LoRA one to one)."""

from __future__ import annotations

import pytest

from agents import run
from agents.scenario import list_examples, load_example

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list_examples())
def test_example_runs(name: str) -> None:
    scenario = load_example(name)
    scenario = scenario.replace("rounds", 1 if scenario.model.mode == "lora" else 2)
    if scenario.model.backbone == "minilm":
        # the same data settings as test_fairness_real.py, so both share one embedding cache
        scenario = scenario.replace("data.max_length", 64).replace("data.val_size", 300)
    result = run(scenario)
    assert len(result.rounds) == scenario.rounds + 1
    assert result.rounds["budget_paid"].max() <= scenario.market.round_budget + 1e-9
    assert result.rounds["test_accuracy"].iloc[-1] > 0.5
    assert set(result.participants["strategy"]) <= {g.strategy for g in scenario.participants}
