"""Optimizer states as plain numpy arrays, for data-only checkpoints.

A client's ``optimizer_state`` is an ``AdamW.state_dict()`` (per-parameter tensors under
``"state"``, hyper-parameters under ``"param_groups"``) plus, under error feedback, a numpy
residual (:data:`fl_core.compression.RESIDUAL_KEY`). A checkpoint stores numpy arrays, never
torch objects, so torch stays inside ``fl_core``: :func:`state_to_numpy` turns every tensor into
an array of the same dtype and values, and :func:`state_from_numpy` turns the per-parameter
arrays back into CPU tensors. The round trip is bit-exact.
"""

from __future__ import annotations

from typing import Any


def state_to_numpy(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of ``state`` with every torch tensor replaced by a numpy array (None stays None)."""
    if state is None:
        return None
    import torch

    def convert(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy().copy()
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, tuple):
            return tuple(convert(v) for v in value)
        return value

    converted: dict[str, Any] = convert(state)
    return converted


def state_from_numpy(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """Undo :func:`state_to_numpy`: per-parameter arrays under ``"state"`` become tensors.

    Everything else (``param_groups``, the compression residual) is returned as it is.
    """
    if state is None or not isinstance(state.get("state"), dict):
        return state
    import numpy as np
    import torch

    per_param = {
        key: {
            name: torch.from_numpy(np.array(v, copy=True)) if isinstance(v, np.ndarray) else v
            for name, v in values.items()
        }
        if isinstance(values, dict)
        else values
        for key, values in state["state"].items()
    }
    return {**state, "state": per_param}
