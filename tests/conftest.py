"""Shared test setup: offline hub, a per-session cache folder, small thread counts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Caches (tokens, embeddings) live in one folder per test session unless CI sets one."""
    if "FEDMARKET_CACHE" not in os.environ:
        os.environ["FEDMARKET_CACHE"] = str(tmp_path_factory.mktemp("fedmarket-cache"))
    return Path(os.environ["FEDMARKET_CACHE"])
