"""``[participants.NAME] synthetic_examples``: generated reviews in a participant's shard.

On the tiny backbone the generator is a tiny random Llama (fl_core.smollm2.tiny_causal_lm):
the mechanics are real (prompting, sampling, the pool growing, the shard and the table),
the text is noise. Mutation tried: appending the generated indices to every owner's shard
instead of their own (test_only_the_group_gets_synthetic_examples fails).
"""

from __future__ import annotations

import numpy as np
import pytest

from agents.model import MarketModel
from agents.run import run
from agents.scenario import ParticipantGroup, Scenario, ScenarioError
from tests.agents.conftest import tiny_scenario


def _scenario(rounds: int = 1) -> Scenario:
    return tiny_scenario(
        ParticipantGroup("poor", count=2, data_size=20, class_alpha=0.1, synthetic_examples=5),
        ParticipantGroup("rich", count=1, data_size=60),
        rounds=rounds,
    )


def test_only_the_group_gets_synthetic_examples() -> None:
    model = MarketModel(_scenario())
    real = model.n_real_examples
    task = model.task
    assert len(task.splits.train) == real + 10
    for p in model.participants:
        synthetic = p.shard[p.shard >= real]
        if p.group == "poor":
            assert len(synthetic) == 5 and len(p.shard) == 25
            # labels are the prompted ones, split evenly (the first class gets the remainder)
            assert np.bincount(task.train_labels[synthetic], minlength=2).tolist() == [3, 2]
            assert np.array_equal(p.labels[-5:], task.train_labels[synthetic])
            texts = [task.splits.train.texts[i] for i in synthetic]
            assert all(t.strip() for t in texts)
        else:
            assert len(synthetic) == 0 and len(p.shard) == 60
    poor = sorted(
        p.shard[p.shard >= real].tolist() for p in model.participants if p.group == "poor"
    )
    assert not set(poor[0]) & set(poor[1])  # each owner its own generated reviews


def test_runs_end_to_end_and_reports_n_synthetic() -> None:
    result = run(_scenario(rounds=2))
    last = result.participants[result.participants["round"] == result.participants["round"].max()]
    by_group = last.groupby("group")["n_synthetic"].unique().to_dict()
    assert [int(v) for v in by_group["poor"]] == [5]
    assert [int(v) for v in by_group["rich"]] == [0]
    assert np.isfinite(result.rounds["test_accuracy"]).all()


def test_same_seed_same_synthetic_pool() -> None:
    a, b = MarketModel(_scenario()), MarketModel(_scenario())
    assert a.task.splits.train.texts == b.task.splits.train.texts


def test_toml_field_and_bad_value() -> None:
    text = _scenario().to_toml()
    assert "synthetic_examples = 5" in text
    assert Scenario.from_toml_string(text).group("poor").synthetic_examples == 5
    with pytest.raises(ScenarioError, match="participants.poor.synthetic_examples"):
        ParticipantGroup("poor", synthetic_examples=-1)
