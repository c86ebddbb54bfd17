"""The issue's acceptance check on the real SmolLM2-135M-Instruct weights (offline)."""

from __future__ import annotations

import pytest

from fl_core.synthesize import synthesize

pytestmark = pytest.mark.slow


def test_six_distinct_reproducible_label_dependent_reviews() -> None:
    positive = synthesize(n=6, label=1, seed=7)
    assert len(positive) == 6 and len(set(positive)) == 6
    assert all(len(text.split()) >= 3 for text in positive)
    assert synthesize(n=6, label=1, seed=7, use_disk=False) == positive  # not just the cache
    assert synthesize(n=6, label=0, seed=7) != positive
