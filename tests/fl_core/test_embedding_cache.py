"""Head-mode embeddings are cached by text: a new split or seed of the same texts reads them
back instead of re-embedding (issue 30/31: each seed used to embed the pool again)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fl_core import ModelConfig
from fl_core.data import TextDataset
from fl_core.features import FeatureStore, tokenize
from fl_core.model import build_classifier

TEXTS = tuple(f"review number {i} says the tea was {'good' if i % 2 else 'bad'}" for i in range(16))


def _store(texts: tuple[str, ...], keyed: bool) -> FeatureStore:
    model = build_classifier(ModelConfig(backbone="tiny", mode="head"), 2, 0)
    data = TextDataset(texts, np.zeros(len(texts), dtype=np.int64), ("a", "b"))
    tokens = tokenize(data, 24, use_disk=False, backbone="tiny")
    keys = data.text_digests() if keyed else None
    return FeatureStore(model, tokens, "pooled", disk_key="test-key", row_keys=keys)


@pytest.mark.parametrize("keyed", [True, False])
def test_a_new_split_of_embedded_texts_is_read_back(
    keyed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the first ten texts embedded and persisted
    monkeypatch.setenv("FEDMARKET_CACHE", str(tmp_path))
    first = _store(TEXTS[:10], keyed)
    first.ensure(np.arange(10))
    reference = first.batch(np.arange(10)).pooled
    # Execute: another split (texts 5..15, in another order) opens the cache
    order = (15, 9, 8, 7, 6, 5, 10, 11, 12, 13, 14)
    second = _store(tuple(TEXTS[i] for i in order), keyed)
    # Assert: with keys, the five shared texts are cached; positions mean nothing
    done = second._done.copy()
    if not keyed:  # the positional cache of another dataset is not reused
        assert not done.any()
        return
    assert done.tolist() == [False] + [True] * 5 + [False] * 5
    assert reference is not None
    again = second.batch(np.arange(1, 6)).pooled
    assert again is not None
    torch.testing.assert_close(again, reference[[9, 8, 7, 6, 5]])


def test_stores_merge_what_each_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDMARKET_CACHE", str(tmp_path))
    a, b = _store(TEXTS[:8], True), _store(TEXTS[8:], True)  # both opened before either wrote
    a.ensure(np.arange(8))
    b.ensure(np.arange(8))
    assert _store(TEXTS, True)._done.all()  # neither overwrote the other's rows
