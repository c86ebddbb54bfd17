"""Checkpoints: a run interrupted at any point resumes to the very same tables.

After every round, :func:`save` writes everything the next rounds depend on -- the global
adapter vector, every agent's state (expected reward, optimiser moments, cumulative payoff,
random stream), the platform's reputation and exclusions, the model's random streams, and
the tables so far -- to ``DIR/checkpoint.pkl`` atomically (temp file, fsync, rename), so a
crash leaves either the previous checkpoint or the new one, never half of one. What is
rebuilt instead of stored: the model weights and data caches, which the scenario and seed
determine.

A checkpoint records the scenario it belongs to; resuming with another scenario, a
truncated file, or a file that is not a fedmarket checkpoint raises
:class:`CheckpointError` with one line saying so (never a silent restart). Checkpoints are
pickles: load only your own.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.model import MarketModel
    from agents.scenario import Scenario

FORMAT = "fedmarket-checkpoint-3"
"""Raised whenever the saved state's layout changes (2: two optimiser groups, adapters and
head, since ``train.head_lr``), so an older file fails with one line instead of a traceback."""
FORMAT_PREFIX = "fedmarket-checkpoint-"
FILENAME = "checkpoint.pkl"


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message is one line naming the file and the fix."""


def scenario_key(scenario: Scenario) -> str:
    return hashlib.sha256(scenario.to_toml().encode()).hexdigest()


def path_in(directory: str | Path) -> Path:
    return Path(directory) / FILENAME


def save(model: MarketModel, directory: str | Path) -> Path:
    """Write the model's state after its latest round, atomically."""
    target = path_in(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "scenario_key": scenario_key(model.scenario),
        "scenario_toml": model.scenario.to_toml(),
        "state": model.state_dict(),
    }
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=".checkpoint.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump(payload, file, protocol=pickle.HIGHEST_PROTOCOL)
            file.flush()
            os.fsync(file.fileno())
        os.replace(name, target)
        directory_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
    finally:
        if os.path.exists(name):
            os.unlink(name)
    return target


def load(directory: str | Path, scenario: Scenario) -> dict[str, Any]:
    """Read and check the checkpoint in ``directory`` for ``scenario``; return its state."""
    target = path_in(directory)
    if not target.is_file():
        raise CheckpointError(f"checkpoint: no {FILENAME} in {directory}; run without --resume")
    try:
        with open(target, "rb") as file:
            payload = pickle.load(file)
    except Exception as error:  # any unpickling failure means a damaged file
        raise CheckpointError(
            f"checkpoint: {target} is corrupt ({type(error).__name__}); delete it or use "
            "another --checkpoint-dir"
        ) from None
    found = payload.get("format") if isinstance(payload, dict) else None
    if isinstance(found, str) and found.startswith(FORMAT_PREFIX) and found != FORMAT:
        raise CheckpointError(
            f"checkpoint: {target} was written by another fedmarket version ({found}; this one "
            f"reads {FORMAT}); rerun without --resume or use another --checkpoint-dir"
        )
    if found != FORMAT:
        raise CheckpointError(f"checkpoint: {target} is not a fedmarket checkpoint")
    if payload.get("scenario_key") != scenario_key(scenario):
        raise CheckpointError(
            f"checkpoint: {target} belongs to a different scenario or seed; resume with the "
            "scenario it was made for, or use another --checkpoint-dir"
        )
    state = payload.get("state")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint: {target} has no model state")
    return state
