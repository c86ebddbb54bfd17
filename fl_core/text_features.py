"""Fixed features of arbitrary texts: frozen sentence embeddings and hashed word n-grams.

* :func:`embed_texts`: mean-pooled, L2-normalised embeddings of the frozen encoder that head
  mode trains on (all-MiniLM-L6-v2, or the random ``tiny`` BERT in tests), cached on disk
  by :class:`fl_core.features.FeatureStore` like a task's embeddings.
* :func:`hashed_ngrams`: word unigram and bigram counts hashed into ``dim`` buckets
  (Weinberger et al. 2009), sublinear term frequency, L2-normalised: a representation that
  shares nothing with the encoder, for a second, independent classifier.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence

import numpy as np

from fl_core.synthetic_filter import words


def embed_texts(
    texts: Sequence[str], *, backbone: str = "minilm", max_length: int = 128, seed: int = 0
) -> np.ndarray:
    """``(len(texts), width)`` float32 unit-norm embeddings of the frozen ``backbone``.

    ``seed`` only matters for random backbones (their weights). Raises ValueError (one line
    naming the field) for an empty text or an unknown backbone.
    """
    import torch

    from fl_core.config import RANDOM_BACKBONES, ModelConfig
    from fl_core.data import TextDataset
    from fl_core.features import FeatureStore, tokenize
    from fl_core.model import build_classifier

    if any(not isinstance(t, str) or not t.strip() for t in texts):
        raise ValueError("texts: every text to embed must be a non-empty string")
    if len(texts) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    config = ModelConfig(backbone=backbone, mode="head")
    model = build_classifier(config, 2, seed)
    dataset = TextDataset(tuple(texts), np.zeros(len(texts), dtype=np.int64), ("a", "b"))
    tokens = tokenize(dataset, max_length, backbone=backbone)
    seed_part = seed if backbone in RANDOM_BACKBONES else ""
    key = hashlib.sha256(
        f"{backbone}|pretrained|{seed_part}|{max_length}|{dataset.fingerprint()}".encode()
    ).hexdigest()[:20]
    store = FeatureStore(model, tokens, "pooled", disk_key=key)
    index = np.arange(len(texts))
    store.ensure(index)
    with torch.inference_mode():
        pooled = store.batch(index).pooled
    assert pooled is not None
    out = pooled.numpy().astype(np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


def hashed_ngrams(texts: Sequence[str], dim: int = 2**14) -> np.ndarray:
    """``(len(texts), dim)`` L2-normalised log(1 + count) of hashed word 1- and 2-grams."""
    if not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim: must be an integer >= 2, got {dim!r}")
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        tokens = words(text)
        grams = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
        for gram in grams:
            out[row, zlib.crc32(gram.encode()) % dim] += 1.0
    np.log1p(out, out=out)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)
