"""A resumed run draws fresh keys: nothing cryptographic comes back from a checkpoint.

Issue 14: a checkpoint once restored the generator that keys were drawn from, so the first
secure round after a resume reused round 1's keys. Keys now come from the OS; this plays a
resume through the product's own path (``MarketModel.state_dict`` / ``load_state_dict``) and
records every key pair the clients generate.

Mutation tried: key pairs from a deterministic source (``load_key_pair`` of bytes that
depend only on how many keys came before, as a checkpointed generator would give) make the
resumed round repeat earlier keys, and the assertion on distinct keys fails (4 != 24).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agents import MarketModel, ParticipantGroup, checkpoint
from privacy import key_agreement
from tests.agents.conftest import tiny_scenario


def test_resumed_rounds_use_keys_never_seen_before(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Prepare: record the public half of every key pair a client generates
    seen: list[bytes] = []
    original = key_agreement.generate_key_pair

    def recording() -> key_agreement.KeyPair:
        pair = original()
        seen.append(pair.public)
        return pair

    monkeypatch.setattr(key_agreement, "generate_key_pair", recording)
    scenario = tiny_scenario(ParticipantGroup("honest", count=4, data_size=40), rounds=2).replace(
        "privacy.secure_aggregation", True
    )

    # Execute: an uninterrupted run, and a run resumed from its round-1 checkpoint
    whole = MarketModel(scenario)
    whole.step()
    checkpoint.save(whole, tmp_path)
    whole.step()
    resumed = MarketModel(scenario)
    resumed.load_state_dict(checkpoint.load(tmp_path, scenario))
    resumed.step()

    # Assert: every key is new, and the tables are the same
    assert len(seen) >= 3 * 2 * 4  # two key pairs per client per secure round
    assert len(set(seen)) == len(seen)
    columns = ["round", "included", "aborted", "budget_paid", "test_accuracy"]
    pd.testing.assert_frame_equal(whole.rounds_table()[columns], resumed.rounds_table()[columns])
