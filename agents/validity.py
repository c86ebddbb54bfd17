"""The validity check every update passes before it is aggregated.

An update of the wrong length, with NaN or Inf, or whose L2 norm exceeds
``train.max_update_norm`` is rejected with a one-line reason. Who runs the check depends on
the access mode (:mod:`agents.update_store`): the server in the clear, the trusted evaluator,
or, under ``secure_coalitions``, the client itself before masking.

Threat model: a client-side check protects against faulty clients only. A client that
deviates on purpose (a poisoner boosting its update) skips it, and secure aggregation then
bounds its input only by the quantiser's clip (``privacy.clip`` per coordinate); enforcing a
norm bound on a masked input needs a zero-knowledge proof of the bound (e.g. Bell et al.
2022, ACORN; Lycklama et al. 2023, RoFL), which fedmarket does not simulate.
"""

from __future__ import annotations

import numpy as np


def update_fault(update: np.ndarray, size: int, bound: float) -> str:
    """Why ``update`` fails the check (``""``: it passes)."""
    if update.shape != (size,):
        return f"wrong length {update.shape[0] if update.ndim else 0} (expected {size})"
    if not np.all(np.isfinite(update)):
        return "update contains NaN or Inf"
    norm = float(np.linalg.norm(update))
    if norm > bound:
        return f"update norm {norm:.3g} exceeds {bound:g}"
    return ""
